"""Self-tests of the conformance kit's pytest plugin: options, collection, levels, warnings, reports."""

import ast
import json
import re
from importlib import resources
from pathlib import Path

import pytest

from agentbus.manifest import resolve_adapter
from conformance.requirements import DOOR_REQUIREMENTS, NOT_APPLICABLE, Requirements
from conformance.rules import KNOWN_DOORS, NOT_TESTABLE, RULES, SpecError, parse_spec

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "SPEC.md"
SUITE = ROOT / "conformance" / "suite"
#: A manifest that is never started by these tests (no capabilities claimed).
PLAIN = ROOT / "tests" / "fake_adapters" / "good" / "module.json"

LEVEL_TESTS = """
import pytest
from conformance.marks import rule

@rule("ENV-1")
def test_must_passes():
    '''ENV-1: a MUST rule that holds.'''

@rule("LIMIT-4")
def test_should_fails():
    '''LIMIT-4: a SHOULD rule that does not hold.'''
    assert 1 == 2, "no rate limit"

@rule("DELIV-11")
def test_capability_needed():
    '''DELIV-11: only when read_messages is claimed.'''
    raise AssertionError("must not run: the manifest does not claim read_messages")
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AGENTBUS_ADAPTER", "AGENTBUS_STRICT", "AGENTBUS_REPORT", "AGENTBUS_RULES"):
        monkeypatch.delenv(key, raising=False)


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_inert_without_an_adapter(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        conftest="def pytest_configure(config):\n    config.addinivalue_line('markers', 'must: its own marker')\n",
        test_plain="import pytest\n@pytest.mark.must\ndef test_x():\n    pass\n",
    )
    result = _run(pytester, "--strict-markers")
    result.assert_outcomes(passed=1)
    assert "agentbus conformance" not in result.stdout.str()


def test_unknown_adapter_is_a_usage_error_listing_the_known_ones(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "--agentbus-adapter=no-such-adapter")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert re.search(r"unknown adapter 'no-such-adapter'; known adapters: .*claude-mcp", result.stderr.str())


def test_header_and_collection_of_the_suite_only(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_project="def test_project_own():\n    pass\n")
    pytester.makeini("[pytest]\ntestpaths = .\n")
    result = _run(pytester, "--agentbus-adapter=claude-mcp", "--collect-only")
    out = result.stdout.str()
    assert re.search(r"agentbus conformance: adapter claude-mcp \S+ \(", out)
    assert "capabilities claimed: permission_relay, read_messages, receipts, reply_to" in out
    assert "test_project_own" not in out, "the project's own tests were collected with the suite"
    assert "test_push_is_the_exact_channel_notification" in out


def test_explicit_paths_are_added_and_a_suite_path_selects(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_extra="def test_adapter_extra():\n    pass\n")
    both = _run(pytester, "--agentbus-adapter=claude-mcp", "--collect-only", "-q", "test_extra.py").stdout.str()
    assert "test_adapter_extra" in both
    assert "test_push_is_the_exact_channel_notification" in both
    one = _run(pytester, "--agentbus-adapter=claude-mcp", "--collect-only", "-q", str(SUITE / "test_manifest.py"))
    ids = [line for line in one.stdout.lines if "::" in line]
    assert ids, ids
    assert all("test_manifest.py::" in line for line in ids), ids


def test_option_sources_command_line_over_env_over_ini(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini(f"[pytest]\nagentbus_adapter = {PLAIN}\n")
    ini = _run(pytester, "--collect-only", "-p", "no:randomly").stdout.str()
    assert "adapter fake-good" in ini
    monkeypatch.setenv("AGENTBUS_ADAPTER", "claude-mcp")
    env = _run(pytester, "--collect-only").stdout.str()
    assert "adapter claude-mcp" in env
    cli = _run(pytester, "--collect-only", f"--agentbus-adapter={PLAIN}").stdout.str()
    assert "adapter fake-good" in cli


def _suite_size(pytester: pytest.Pytester) -> int:
    """How many suite tests a run collects (what --agentbus-rules=NONE must deselect, every one)."""
    listed = _run(pytester, f"--agentbus-adapter={PLAIN}", "--collect-only", "-q")
    count = len([line for line in listed.stdout.lines if "::" in line])
    assert count > len(RULES) // 2, listed.stdout.str()[-2000:]
    return count


def _levels_run(pytester: pytest.Pytester, *extra: str) -> tuple[pytest.RunResult, dict[str, object]]:
    pytester.makepyfile(test_levels=LEVEL_TESTS)
    report = pytester.path / "report.json"
    result = _run(
        pytester,
        f"--agentbus-adapter={PLAIN}",
        "--agentbus-rules=NONE",
        f"--agentbus-report={report}",
        "-ra",
        "test_levels.py",
        *extra,
    )
    return result, json.loads(report.read_text())


def test_should_failure_is_a_warning_and_capabilities_skip(pytester: pytest.Pytester) -> None:
    result, report = _levels_run(pytester)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=1, skipped=1, xfailed=1, deselected=_suite_size(pytester))
    out = result.stdout.str()
    assert "SHOULD LIMIT-4 not met (warning; --agentbus-strict makes it an error)" in out
    assert re.search(r"MUST\s+1\s+1\s+1\s+0", out), out
    assert "conforms to agentbus spec 1; SHOULD warnings: LIMIT-4" in out
    outcomes = {t["rule"]: (t["level"], t["outcome"]) for t in report["tests"]}  # type: ignore[index]
    assert outcomes == {"ENV-1": ("must", "passed"), "LIMIT-4": ("should", "warning"), "DELIV-11": ("may", "skipped")}
    skipped = next(t for t in report["tests"] if t["rule"] == "DELIV-11")  # type: ignore[index]
    assert "does not claim capability 'read_messages'" in skipped["reason"]
    assert report["conforms"] is True


def test_strict_makes_should_failures_fail(pytester: pytest.Pytester) -> None:
    result, report = _levels_run(pytester, "--agentbus-strict")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, skipped=1, failed=1, deselected=_suite_size(pytester))
    assert "DOES NOT CONFORM to agentbus spec 1 (strict): LIMIT-4 (SHOULD)" in result.stdout.str()
    assert report["conforms"] is False
    assert report["strict"] is True
    rule_rows = {r["rule"]: r for r in report["rules"]}  # type: ignore[index]
    assert rule_rows["LIMIT-4"]["outcome"] == "failed"
    assert "no rate limit" in rule_rows["LIMIT-4"]["reason"]
    assert "LIMIT-4 (SHOULD): Each sender is rate limited" in result.stdout.str(), "the rule is not quoted"


def test_env_strict_and_report(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTBUS_STRICT", "1")
    result, _report = _levels_run(pytester)
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_every_rule_is_covered_or_declared_untestable() -> None:
    """Each SPEC rule has a suite test (found by its spec marker) or a reason it cannot have one."""
    cited = set()
    for module in SUITE.glob("test_*.py"):
        cited.update(re.findall(r'@rule\("([A-Z]+-\d+)"\)', module.read_text()))
    assert not cited - set(RULES), f"tests cite rules SPEC.md does not have: {sorted(cited - set(RULES))}"
    uncovered = set(RULES) - cited - set(NOT_TESTABLE)
    assert not uncovered, f"rules without a conformance test: {sorted(uncovered)}"


@pytest.mark.skipif(not SPEC.is_file(), reason="SPEC.md is not next to the package (installed kit)")
def test_the_kit_reads_the_spec_md_of_this_checkout() -> None:
    """One source for the rules: the package's SPEC.md is the top-level SPEC.md, byte for byte."""
    shipped = resources.files("conformance").joinpath("SPEC.md").read_bytes()
    assert shipped == SPEC.read_bytes()
    assert len(RULES) > 50
    assert all(rule.text and rule.section for rule in RULES.values())


def test_the_spec_parser_takes_continuations_capabilities_and_refuses_duplicates() -> None:
    text = (
        "# agentbus standard, version 9\n\n## 1. Things\n\n"
        "- **THING-1 (MUST)** First line\n  second line.\n\n  After a blank line.\n"
        "- **THING-2 (MAY, capability `frobs`)** Optional.\n\n## Decisions recorded here\n\n"
        "- **THING-3 (MUST)** not a rule: after the decisions heading\n"
    )
    version, rules = parse_spec(text)
    assert version == "9"
    assert list(rules) == ["THING-1", "THING-2"]
    assert rules["THING-1"].text == "First line second line. After a blank line."
    assert (rules["THING-2"].level, rules["THING-2"].capability, rules["THING-2"].section) == (
        "may",
        "frobs",
        "1. Things",
    )
    with pytest.raises(SpecError, match="THING-1 twice"):
        parse_spec(text.replace("THING-2 (MAY", "THING-1 (MAY"))


def test_a_rule_of_one_door_is_not_applicable_to_adapters_without_it() -> None:
    """``door `name``` in a rule head limits the rule: the kit skips it as not applicable to an adapter
    whose manifest does not list that door."""
    _version, rules = parse_spec(
        "# agentbus standard, version 9\n\n## 1. Things\n\n"
        "- **THING-1 (MUST, door `channel`)** Channel only.\n"
        "- **THING-2 (MAY, capability `frobs`, door `app-server`)** Codex only.\n"
    )
    assert (rules["THING-1"].door, rules["THING-1"].capability) == ("channel", None)
    assert (rules["THING-2"].door, rules["THING-2"].capability) == ("app-server", "frobs")
    assert rules["THING-2"].heading == "THING-2 (MAY, capability `frobs`, door `app-server`)"
    assert {RULES[r].door for r in ("DELIV-1", "MCP-3", "MCP-8", "PERM-1")} == {"channel"}
    assert {RULES[r].door for r in ("DOOR-3", "DOOR-4", "DOOR-5", "DOOR-6")} == {"native"}
    assert {r.door for r in RULES.values() if r.id.startswith("APPS-")} == {"app-server"}
    for adapter, opened, closed_door in (
        ("claude-mcp", ("native_door", "channel_door"), "app_server_door"),
        ("codex", ("app_server_door",), "channel_door"),
    ):
        requirements = Requirements(resolve_adapter(adapter))
        for door in opened:
            assert requirements.check(door), f"{adapter}: {door} closed"
        reason = requirements.check(closed_door).reason
        assert reason.startswith(NOT_APPLICABLE), reason
        assert reason.count(". ") == 0, reason
    assert set(DOOR_REQUIREMENTS) == KNOWN_DOORS


def test_docstrings_quote_their_rule() -> None:
    """Every suite test's docstring starts with the id of the rule its @rule marker cites."""
    problems = []
    for module in SUITE.glob("test_*.py"):
        for node in ast.parse(module.read_text()).body:
            if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
                continue
            cited = [
                d.args[0].value
                for d in node.decorator_list
                if isinstance(d, ast.Call)
                and getattr(d.func, "id", "") == "rule"
                and isinstance(d.args[0], ast.Constant)
            ]
            doc = ast.get_docstring(node) or ""
            if len(cited) != 1 or not doc.startswith(f"{cited[0]}"):
                problems.append(f"{module.name}::{node.name} cites {cited} but its docstring starts {doc[:20]!r}")
    assert not problems, "\n".join(problems)
