"""The rules of the standard, read from SPEC.md (shipped in this package): id, level, capability, text.

SPEC.md is the one source: each rule is a list item ``- **ID (LEVEL[, capability `name`][, delivery
`kind`])** text`` (continued on indented lines) under a numbered ``## N. Section`` heading, before "Decisions
recorded here". The kit cites rules by id (``@rule("DELIV-3")``) and takes their level from here.
"""

import re
from dataclasses import dataclass
from importlib import resources
from typing import Literal

Level = Literal["must", "should", "may"]
LEVELS: tuple[Level, ...] = ("must", "should", "may")
SPEC_FILE = "SPEC.md"

_TITLE = re.compile(r"^# agentbus standard, version (\S+)", re.M)
_SCHEMA_VERSION = re.compile(r"^## \d+\. The bus file \(shared schema, version `(\w+)`\)", re.M)
_SECTION = re.compile(r"^## (\d+[a-z]?\. .+)$")
_RULE = re.compile(
    r"^- \*\*([A-Z]+-\d+) \((MUST|SHOULD|MAY)(?:, capability `(\w+)`)?(?:, door `([\w-]+)`)?\)\*\* (.*)$"
)
_END = "## Decisions recorded here"


@dataclass(frozen=True)
class Rule:
    """One numbered rule: ``id`` (``DELIV-3``), ``level``, the capability a MAY rule needs, the quoted text,
    and the door it is about (``native``, ``channel``, ``app-server``; None: every adapter)."""

    id: str
    level: Level
    section: str
    text: str
    capability: str | None = None
    door: str | None = None

    @property
    def heading(self) -> str:
        """``DELIV-3 (MUST)``, as SPEC.md writes it."""
        cap = f", capability `{self.capability}`" if self.capability else ""
        kind = f", door `{self.door}`" if self.door else ""
        return f"{self.id} ({self.level.upper()}{cap}{kind})"


class SpecError(ValueError):
    """SPEC.md does not read as the standard (a rule line the parser cannot take, a duplicate id)."""


def parse_spec(text: str) -> tuple[str, dict[str, Rule]]:
    """(version, rules by id in document order) from the text of SPEC.md."""
    title = _TITLE.search(text)
    if title is None:
        raise SpecError("SPEC.md has no '# agentbus standard, version N' title")
    rules: dict[str, Rule] = {}
    section = ""
    current: list[str] | None = None
    head: tuple[str, Level, str | None, str | None] | None = None

    def finish() -> None:
        if head is not None and current is not None:
            rule_id, level, capability, door = head
            if rule_id in rules:
                raise SpecError(f"SPEC.md defines {rule_id} twice")
            text = " ".join(" ".join(current).split())
            rules[rule_id] = Rule(rule_id, level, section, text, capability, door)

    for line in text.split(_END, 1)[0].splitlines():
        if (heading := _SECTION.match(line)) is not None:
            finish()
            head, current, section = None, None, heading.group(1)
        elif (item := _RULE.match(line)) is not None:
            finish()
            level: Level = item.group(2).lower()  # type: ignore[assignment]
            head, current = (item.group(1), level, item.group(3), item.group(4)), [item.group(5)]
        elif line.startswith("  ") and current is not None:
            current.append(line.strip())
        elif line.strip() == "":
            continue  # a rule may hold blank lines between its indented parts
        else:
            finish()
            head, current = None, None
    finish()
    return title.group(1), rules


def schema_version(text: str) -> str:
    """The bus schema revision SPEC.md section 11 defines (its heading names it)."""
    found = _SCHEMA_VERSION.search(text)
    if found is None:
        raise SpecError("SPEC.md has no '## N. The bus file (shared schema, version `NNNN`)' heading")
    return found.group(1)


_TEXT = resources.files("conformance").joinpath(SPEC_FILE).read_text(encoding="utf-8")
SPEC_VERSION, RULES = parse_spec(_TEXT)
#: The ``alembic_version`` a bus of this standard carries (SCHEMA-2).
SCHEMA_VERSION = schema_version(_TEXT)

#: Rules the kit cannot check through stdio and the bus file, and why.
NOT_TESTABLE: dict[str, str] = {
    "PORT-1": "a Python API of the core (Trigger port); the core's own tests cover it",
    "PORT-2": "a Python API of the core (Delivery port); the core's own tests cover it",
}

#: Capabilities that SPEC.md defines (MAN-3); a manifest may claim others, which the kit ignores.
KNOWN_CAPABILITIES: frozenset[str] = frozenset(r.capability for r in RULES.values() if r.capability)
#: Doors some rule is limited to (SPEC section 8, "Doors").
KNOWN_DOORS: frozenset[str] = frozenset(r.door for r in RULES.values() if r.door)
