"""Outcomes of the suite per test, per rule and per level; the JSON report and the terminal summary."""

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agentbus.manifest import Manifest
from conformance.rules import KNOWN_CAPABILITIES, LEVELS, NOT_TESTABLE, RULES, SPEC_VERSION

#: How the verdict names a backend other than the default SQLite file.
BACKEND_NAMES = {"postgresql": "PostgreSQL"}
#: Test outcomes, worst first: a rule's outcome is the worst outcome of its tests. ``kit-error``: the
#: kit itself broke (an exception that is no verdict on the adapter); ``expected``: a failure the
#: baseline lists; ``n/a``: not applicable (wire tier, or a bus without the shared schema).
OUTCOMES = ("failed", "kit-error", "error", "warning", "expected", "passed", "n/a", "skipped")
_QUIET = ("passed", "skipped", "n/a")


@dataclass
class TestOutcome:
    """One suite test: the rule it cites, the rule's level, how it ended and why."""

    nodeid: str
    rule: str
    level: str
    outcome: str = "passed"
    reason: str = ""
    duration: float = 0.0


@dataclass
class RuleOutcome:
    """One rule: its level, its worst test outcome, how many tests, the first reason of that outcome."""

    rule: str
    level: str
    outcome: str
    tests: int
    reason: str = ""
    capability: str | None = None


@dataclass
class Results:
    """Everything the kit found; filled from test reports, read by the summary and the JSON report."""

    manifest: Manifest
    strict: bool
    tests: dict[str, TestOutcome] = field(default_factory=dict)
    #: The bus backend of the run: ``sqlite`` (the bus file) or ``postgresql`` (--agentbus-db-url).
    backend: str = "sqlite"
    #: The certification tier of the run (``wire`` or ``bus``).
    tier: str = "bus"
    #: Rules whose failures the baseline lists.
    baseline: frozenset[str] = frozenset()

    def record(self, nodeid: str, rule: str, level: str, outcome: str, reason: str, duration: float) -> None:
        """Fold one phase report (setup/call/teardown) into the test's outcome."""
        test = self.tests.setdefault(nodeid, TestOutcome(nodeid, rule, level))
        test.duration += duration
        if outcome == "passed":
            return
        if outcome in ("skipped", "n/a"):
            replace = test.outcome == "passed"
        else:
            replace = test.outcome in _QUIET or OUTCOMES.index(outcome) < OUTCOMES.index(test.outcome)
        if replace:
            test.outcome = outcome
            test.reason = reason

    def rules(self) -> list[RuleOutcome]:
        """Per rule, in SPEC.md order."""
        grouped: dict[str, list[TestOutcome]] = {}
        for test in self.tests.values():
            grouped.setdefault(test.rule, []).append(test)
        out = []
        for rule_id in sorted(grouped, key=_spec_order):
            tests = grouped[rule_id]
            worst = min(tests, key=lambda t: OUTCOMES.index(t.outcome))
            capability = RULES[rule_id].capability if rule_id in RULES else None
            out.append(RuleOutcome(rule_id, worst.level, worst.outcome, len(tests), worst.reason, capability))
        return out

    def levels(self) -> dict[str, dict[str, int]]:
        """Per level: counts of tests by outcome, and of rules by outcome (``rules_<outcome>``)."""
        table: dict[str, dict[str, int]] = {}
        rules = self.rules()
        for level in LEVELS:
            counts = Counter(t.outcome for t in self.tests.values() if t.level == level)
            rule_counts = Counter(r.outcome for r in rules if r.level == level)
            row = {"tests": sum(counts.values()), "rules": sum(rule_counts.values())}
            row.update({outcome: counts.get(outcome, 0) for outcome in OUTCOMES})
            row.update({f"rules_{outcome}": rule_counts.get(outcome, 0) for outcome in OUTCOMES})
            table[level] = row
        return table

    def broken_rules(self) -> list[RuleOutcome]:
        """Rules whose tests failed or errored (MUST, claimed MAY, and SHOULD under --agentbus-strict)."""
        return [r for r in self.rules() if r.outcome in ("failed", "error")]

    def kit_errors(self) -> list[RuleOutcome]:
        """Rules the kit could not judge: a check raised something that is no verdict on the adapter."""
        return [r for r in self.rules() if r.outcome == "kit-error"]

    def stale_baseline(self) -> list[str]:
        """Baseline entries whose rule ran and passed: the baseline can shrink."""
        ran = {r.rule: r.outcome for r in self.rules()}
        return sorted(rule for rule in self.baseline if ran.get(rule) == "passed")

    def conforms(self) -> bool:
        """True when no rule failed (SHOULD warnings and baseline failures do not count), the kit judged
        every rule it ran, at least one test ran, and (under --agentbus-strict) the baseline is not stale."""
        stale = self.strict and bool(self.stale_baseline())
        return bool(self.tests) and not self.broken_rules() and not self.kit_errors() and not stale

    def as_json(self) -> dict[str, Any]:
        """The ``--agentbus-report`` document."""
        claimed = sorted(self.manifest.capabilities)
        return {
            "spec": SPEC_VERSION,
            "adapter": {
                "id": self.manifest.id,
                "title": self.manifest.title,
                "version": self.manifest.version,
                "manifest": str(self.manifest.path),
                "capabilities": claimed,
                "unknown_capabilities": [c for c in claimed if c not in KNOWN_CAPABILITIES],
            },
            "strict": self.strict,
            "backend": self.backend,
            "tier": self.tier,
            "baseline": sorted(self.baseline),
            "stale_baseline": self.stale_baseline(),
            "kit_errors": [r.rule for r in self.kit_errors()],
            "conforms": self.conforms(),
            "levels": self.levels(),
            "rules": [asdict(r) for r in self.rules()],
            "tests": [asdict(t) for t in sorted(self.tests.values(), key=lambda t: (_spec_order(t.rule), t.nodeid))],
            "not_testable": dict(NOT_TESTABLE),
        }

    def write(self, path: Path) -> None:
        """Write the JSON report (parent directories are created)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_json(), indent=2) + "\n", encoding="utf-8")

    def write_markdown(self, path: Path) -> None:
        """A Markdown summary beside the JSON report, for a CI page: the verdict, the table, each rule."""
        lines = [f"# agentbus conformance: {self.manifest.id} {self.manifest.version}", "", f"**{self.verdict()}**", ""]
        lines += [
            f"Spec {SPEC_VERSION}, tier `{self.tier}`, bus `{self.backend}`"
            + (", strict" if self.strict else "")
            + (f", baseline of {len(self.baseline)}" if self.baseline else ""),
            "",
            "| level | rules | tests | " + " | ".join(OUTCOMES) + " |",
            "|---|---:|---:|" + "---:|" * len(OUTCOMES),
        ]
        for level, row in self.levels().items():
            counts = " | ".join(str(row[o]) for o in OUTCOMES)
            lines.append(f"| {level.upper()} | {row['rules']} | {row['tests']} | {counts} |")
        lines += ["", "| rule | level | outcome | tests | reason |", "|---|---|---|---:|---|"]
        for rule in self.rules():
            reason = _one_line(rule.reason, 200).replace("|", "\\|") if rule.outcome not in ("passed",) else ""
            lines.append(f"| {rule.rule} | {rule.level.upper()} | {rule.outcome} | {rule.tests} | {reason} |")
        stale = self.stale_baseline()
        if stale:
            lines += ["", f"Stale baseline entries (the rule passes now): {', '.join(stale)}"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def summary_lines(self) -> list[str]:
        """The terminal summary: a table per level, one line per rule, the rules not covered, the verdict."""
        lines = []
        levels = self.levels()
        header = (
            f"{'level':<7}{'rules':>6}{'tests':>7}{'passed':>8}{'failed':>8}{'error':>7}{'warning':>9}{'skipped':>9}"
            f"{'n/a':>5}{'expected':>9}{'kit-error':>10}"
        )
        lines.append(header)
        for level in LEVELS:
            row = levels[level]
            lines.append(
                f"{level.upper():<7}{row['rules']:>6}{row['tests']:>7}{row['passed']:>8}{row['failed']:>8}"
                f"{row['error']:>7}{row['warning']:>9}{row['skipped']:>9}{row['n/a']:>5}{row['expected']:>9}"
                f"{row['kit-error']:>10}"
            )
        lines.append("")
        for rule in self.rules():
            word = rule.outcome.upper() if rule.outcome != "passed" else "passed"
            cap = f" [capability {rule.capability}]" if rule.capability else ""
            door = RULES[rule.rule].door if rule.rule in RULES else None
            cap += f" [door {door}]" if door else ""
            tests = f"{rule.tests} test{'s' if rule.tests != 1 else ''}"
            text = f"{rule.rule:<10}{rule.level.upper():<7}{word:<8} ({tests}){cap}"
            if rule.outcome != "passed" and rule.reason:
                text += f": {_one_line(rule.reason)}"
            lines.append(text)
        covered = {r.rule for r in self.rules()}
        missing = [rule_id for rule_id in RULES if rule_id not in covered and rule_id not in NOT_TESTABLE]
        if NOT_TESTABLE:
            lines.append("")
            lines.append(
                "not testable through stdio and the bus file: "
                + "; ".join(f"{k} ({v})" for k, v in NOT_TESTABLE.items())
            )
        if missing:
            lines.append("not run in this session: " + ", ".join(missing))
        stale = self.stale_baseline()
        if stale:
            lines.append(f"stale baseline entries (the rule passes now; remove them): {', '.join(stale)}")
        lines.append("")
        lines.append(self.verdict())
        return lines

    def verdict(self) -> str:
        """One line: conforms or not, with the broken rules and the count of SHOULD warnings."""
        who = f"{self.manifest.id} {self.manifest.version}"
        warnings = [r.rule for r in self.rules() if r.outcome == "warning"]
        note = f"; SHOULD warnings: {', '.join(warnings)}" if warnings else ""
        mode = " (strict)" if self.strict else ""
        if self.backend != "sqlite":
            mode += f" on a {BACKEND_NAMES.get(self.backend, self.backend)} bus"
        if self.tier != "bus":
            mode += f" on the {self.tier} tier"
        expected = [r.rule for r in self.rules() if r.outcome == "expected"]
        if expected:
            note += f"; known failures (baseline): {', '.join(expected)}"
        if not self.tests:
            return f"no conformance test ran for {who}"
        kit = self.kit_errors()
        if kit:
            names = ", ".join(r.rule for r in kit)
            return f"{who}: the kit could not judge {names} (kit errors, not the adapter's failures){note}"
        broken = self.broken_rules()
        if broken:
            names = ", ".join(f"{r.rule} ({r.level.upper()})" for r in broken)
            return f"{who} DOES NOT CONFORM to agentbus spec {SPEC_VERSION}{mode}: {names}{note}"
        stale = self.stale_baseline()
        if self.strict and stale:
            names = ", ".join(stale)
            return f"{who} DOES NOT CONFORM to agentbus spec {SPEC_VERSION}{mode}: stale baseline entries {names}{note}"
        return f"{who} conforms to agentbus spec {SPEC_VERSION}{mode}{note}"


def _spec_order(rule_id: str) -> int:
    order = list(RULES)
    return order.index(rule_id) if rule_id in order else len(order)


def _one_line(text: str, width: int = 160) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 3] + "..."
