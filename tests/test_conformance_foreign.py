"""The kit on adapters that are not ours: a Node.js adapter with its own store, on both tiers, rule by rule."""

import json
import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

FOREIGN = Path(__file__).resolve().parent / "foreign_adapters"
NODE_STORE = FOREIGN / "node_store" / "module.json"
NODE_OWN_SCHEMA = FOREIGN / "node_own_schema" / "module.json"
SCHEMA_SENTENCE = "the adapter's bus does not have the shared schema of SPEC section 11"

#: Rules the wire tier judges (what a client and the other sessions of the same adapter see: stdio, the
#: tools, the pushes, the process), all of which node-store meets; the rest are not applicable there
#: (the file's rules, those SPEC marks "bus tier only", other doors) or need capabilities it lacks.
WIRE_RULES_PASSED = {
    "ENV-1", "ENV-2", "ENV-3", "ENV-4", "NAME-1", "NAME-2", "NAME-3", "NAME-4",
    "LIMIT-1", "LIMIT-2", "LIMIT-3", "LIMIT-4", "PRES-1", "PRES-2", "PRES-3", "PRES-4", "PRES-6",
    "MBOX-1", "MBOX-2", "MBOX-3", "MBOX-4",
    "DELIV-1", "DELIV-2", "DELIV-3", "DELIV-4", "DELIV-5", "DELIV-7", "DELIV-8", "DELIV-9", "DELIV-10",
    "TRIG-2", "DOOR-1", "DOOR-2",
    "MCP-1", "MCP-2", "MCP-3", "MCP-4", "MCP-5", "MCP-6", "MCP-7", "MCP-8", "MCP-9",
    "LIFE-1", "LIFE-2", "LIFE-4", "LIFE-5", "MAN-1", "MAN-2", "MAN-3", "SEC-1", "SEC-2", "SEC-3",
}  # fmt: skip
#: Not applicable to node-store on the wire tier: the file's rules, the "bus tier only" ones, the ladder
#: (no message_status without receipts), and the doors it does not open.
WIRE_NOT_APPLICABLE = {
    "SCHEMA-1", "SCHEMA-2", "SCHEMA-3", "SCHEMA-4", "SCHEMA-5", "SCHEMA-6", "TRIG-1",
    "LIFE-3", "PRES-5", "DELIV-6", "MBOX-5", "RCPT-1",
    "APPS-1", "APPS-2", "APPS-3", "APPS-4", "DOOR-3", "DOOR-4", "DOOR-5", "HOOK-1", "HOOK-2", "HOOK-3",
}  # fmt: skip
#: With the seed's schema in bus.db, the bus tier fails the file rules: no migration lock (SCHEMA-2),
#: not the shared tables (SCHEMA-3). Everything the wire tier judges still passes.
OWN_SCHEMA_BROKEN = {"SCHEMA-2", "SCHEMA-3"}
#: How the checks of the doors these channel adapters do not open (the native door, Codex's app-server) skip.
OTHER_DELIVERY = "not applicable to doors channel"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node (Node.js) is not on PATH")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AGENTBUS_ADAPTER", "AGENTBUS_STRICT", "AGENTBUS_REPORT", "AGENTBUS_RULES", "AGENTBUS_TIER"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("AGENTBUS_BASELINE", raising=False)


def certify(pytester: pytest.Pytester, adapter: Path, *args: str) -> tuple[int, dict[str, dict], dict]:
    """Run the suite on ``adapter``; (exit code, rule -> its report row, the JSON report)."""
    report = pytester.path / "report.json"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--agentbus-adapter={adapter}", f"--agentbus-report={report}", *args
    )
    print(result.stdout.str()[-3000:])
    data = json.loads(report.read_text())
    return int(result.ret), {row["rule"]: row for row in data["rules"]}, data


def outcomes(rows: dict[str, dict], outcome: str) -> set[str]:
    return {rule for rule, row in rows.items() if row["outcome"] == outcome}


@pytest.mark.timeout(300)
def test_node_store_is_certified_on_the_wire_tier(pytester: pytest.Pytester) -> None:
    """The manifest claims the wire tier: the bus rules are not applicable, every wire rule passes."""
    code, rules, data = certify(pytester, NODE_STORE, "-n", "2")
    assert code == 0, rules
    assert data["conforms"] is True, rules
    assert data["tier"] == "wire"
    assert data["kit_errors"] == []
    assert outcomes(rules, "passed") == WIRE_RULES_PASSED
    unclaimed = {rule for rule, row in rules.items() if "does not claim capability" in str(row.get("reason"))}
    assert unclaimed == {
        *("PERM-1", "PERM-2", "PERM-3", "PERM-4", "DOOR-6"),
        *("DELIV-11", "DELIV-12", "RCPT-2", "RCPT-3", "RCPT-4", "RCPT-5"),
    }, "node-store claims no relay, no receipts, no read_messages, no reply_to"
    assert outcomes(rules, "n/a") == WIRE_NOT_APPLICABLE
    assert set(rules) == WIRE_RULES_PASSED | WIRE_NOT_APPLICABLE | unclaimed
    # a rule's reason is one of its tests': the wire tier's (with SPEC's sentence for a "bus tier only"
    # rule), or (a check of another door) the door's
    for rule in WIRE_NOT_APPLICABLE:
        reason = rules[rule]["reason"]
        assert reason.startswith(("not applicable on the wire tier", OTHER_DELIVERY)), (rule, reason)
    for rule in ("LIFE-3", "PRES-5", "DELIV-6", "MBOX-5"):
        assert "bus tier only" in rules[rule]["reason"], (rule, rules[rule]["reason"])
    summary = (pytester.path / "report.md").read_text()
    assert "node-store 1.0.0 conforms to agentbus spec 1 on the wire tier" in summary


@pytest.mark.timeout(300)
def test_own_schema_gets_verdicts_not_tracebacks(pytester: pytest.Pytester) -> None:
    """On the bus tier with the seed's schema: SCHEMA-3 fails with one sentence, the rules that need the
    shared tables are not applicable with it, the behaviour rules are still judged over stdio."""
    code, rules, data = certify(pytester, NODE_OWN_SCHEMA, "-n", "2")
    assert code == 1
    assert data["conforms"] is False
    assert data["tier"] == "bus"
    assert data["kit_errors"] == []
    assert outcomes(rules, "failed") == OWN_SCHEMA_BROKEN, rules
    assert SCHEMA_SENTENCE in rules["SCHEMA-3"]["reason"]
    assert "peers lacks session_id" in rules["SCHEMA-3"]["reason"]
    for rule in outcomes(rules, "n/a"):
        reason = rules[rule]["reason"]
        assert reason.startswith((f"not applicable: {SCHEMA_SENTENCE}", OTHER_DELIVERY)), rules[rule]
    assert {"MBOX-5", "PRES-5", "SCHEMA-1"} <= outcomes(rules, "n/a")
    # and LIFE-3 (a corrupt or locked bus file is reported), judged only where the bus file is shared
    assert outcomes(rules, "passed") == WIRE_RULES_PASSED | {"LIFE-3"}, "the wire rules do not depend on the schema"
    for test in data["tests"]:
        reason = test["reason"] or ""
        assert "Traceback" not in reason, test
        assert "OperationalError" not in reason, test
        assert "KeyError" not in reason, test
        if test["outcome"] == "failed":
            assert reason.startswith("AssertionError: "), test
    assert (
        "DOES NOT CONFORM to agentbus spec 1: SCHEMA-2 (MUST), SCHEMA-3 (MUST)"
        in (pytester.path / "report.md").read_text()
    )


@pytest.mark.timeout(300)
def test_a_baseline_turns_known_failures_into_expected_and_names_stale_entries(pytester: pytest.Pytester) -> None:
    """Listed failures are expected (the run conforms); a listed rule that passes is stale, an error under strict."""
    baseline = pytester.path / "baseline.txt"
    baseline.write_text("# known defects of node-own-schema\nSCHEMA-2\nSCHEMA-3\nMCP-1  # passes: stale\n")
    selected = "--agentbus-rules=SCHEMA-2,SCHEMA-3,MCP-1"
    code, rules, data = certify(pytester, NODE_OWN_SCHEMA, selected, f"--agentbus-baseline={baseline}")
    assert {r: row["outcome"] for r, row in rules.items()} == {
        "SCHEMA-2": "expected",
        "SCHEMA-3": "expected",
        "MCP-1": "passed",
    }
    assert code == 0
    assert data["conforms"] is True
    assert data["stale_baseline"] == ["MCP-1"]
    assert "Stale baseline entries (the rule passes now): MCP-1" in (pytester.path / "report.md").read_text()
    code, rules, data = certify(
        pytester, NODE_OWN_SCHEMA, selected, f"--agentbus-baseline={baseline}", "--agentbus-strict"
    )
    assert code == 1
    assert data["conforms"] is False
    assert data["stale_baseline"] == ["MCP-1"]


@pytest.mark.timeout(300)
def test_junitxml_still_works_beside_the_report(pytester: pytest.Pytester) -> None:
    """pytest's own --junitxml is untouched by the kit: one testcase per test that ran."""
    junit = pytester.path / "junit.xml"
    code, rules, _ = certify(pytester, NODE_STORE, "--agentbus-rules=MCP-*", f"--junitxml={junit}")
    assert code == 0
    text = junit.read_text()
    assert text.count("<testcase ") == sum(row["tests"] for row in rules.values()) > 0
