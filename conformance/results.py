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
#: Test outcomes, worst first: a rule's outcome is the worst outcome of its tests.
OUTCOMES = ("failed", "error", "warning", "passed", "skipped")


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

    def record(self, nodeid: str, rule: str, level: str, outcome: str, reason: str, duration: float) -> None:
        """Fold one phase report (setup/call/teardown) into the test's outcome."""
        test = self.tests.setdefault(nodeid, TestOutcome(nodeid, rule, level))
        test.duration += duration
        if outcome == "passed":
            return
        if outcome == "skipped":
            replace = test.outcome == "passed"
        else:
            replace = test.outcome in ("passed", "skipped") or OUTCOMES.index(outcome) < OUTCOMES.index(test.outcome)
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

    def conforms(self) -> bool:
        """True when no rule failed (SHOULD warnings do not count) and at least one test ran."""
        return bool(self.tests) and not self.broken_rules()

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

    def summary_lines(self) -> list[str]:
        """The terminal summary: a table per level, one line per rule, the rules not covered, the verdict."""
        lines = []
        levels = self.levels()
        header = (
            f"{'level':<7}{'rules':>6}{'tests':>7}{'passed':>8}{'failed':>8}{'error':>7}{'warning':>9}{'skipped':>9}"
        )
        lines.append(header)
        for level in LEVELS:
            row = levels[level]
            lines.append(
                f"{level.upper():<7}{row['rules']:>6}{row['tests']:>7}{row['passed']:>8}{row['failed']:>8}"
                f"{row['error']:>7}{row['warning']:>9}{row['skipped']:>9}"
            )
        lines.append("")
        for rule in self.rules():
            word = rule.outcome.upper() if rule.outcome != "passed" else "passed"
            cap = f" [capability {rule.capability}]" if rule.capability else ""
            tests = f"{rule.tests} test{'s' if rule.tests != 1 else ''}"
            text = f"{rule.rule:<10}{rule.level.upper():<7}{word:<8} ({tests}){cap}"
            if rule.outcome in ("failed", "error", "warning", "skipped") and rule.reason:
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
        if not self.tests:
            return f"no conformance test ran for {who}"
        broken = self.broken_rules()
        if broken:
            names = ", ".join(f"{r.rule} ({r.level.upper()})" for r in broken)
            return f"{who} DOES NOT CONFORM to agentbus spec {SPEC_VERSION}{mode}: {names}{note}"
        return f"{who} conforms to agentbus spec {SPEC_VERSION}{mode}{note}"


def _spec_order(rule_id: str) -> int:
    order = list(RULES)
    return order.index(rule_id) if rule_id in order else len(order)


def _one_line(text: str, width: int = 160) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 3] + "..."
