"""The claude-mcp hot path: pipelined tool calls, Claude Code's real call shape, and no MCP SDK in the process."""

import json
from pathlib import Path

import pytest
from helpers.waiting import wait_until

from fakeclaude import Sandbox


def _answers(session, prefix: str) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {
        record.id: record.message
        for record in session.recorder.received()
        if record.kind == "response" and isinstance(record.id, str) and record.id.startswith(prefix)
    }


@pytest.mark.timeout(120)
def test_pipelined_sends_are_all_answered_in_order_and_delivered_in_order(fakeclaude_bus: Sandbox) -> None:
    alice, bob = fakeclaude_bus.start_sessions("alice", "bob", env={"AGENTBUS_RATE_LIMIT_PER_MINUTE": "0"})
    count = 1500  # more than app.MAX_CALLS_IN_FLIGHT: the reader waits for free slots part of the time
    lines = [
        json.dumps(
            {
                "jsonrpc": "2.0",
                "id": f"p{i}",
                "method": "tools/call",
                "params": {"name": "send_message", "arguments": {"to": "bob", "text": f"burst {i}"}},
            }
        )
        for i in range(count)
    ]
    alice.send_raw("\n".join(lines))  # one write: the adapter sees them all at once
    wait_until(lambda: len(_answers(alice, "p")) == count, timeout=60, what="every pipelined call is answered")
    answers = _answers(alice, "p")
    results = [answers[f"p{i}"]["result"] for i in range(count)]
    assert not [r for r in results if r["isError"]], "no send failed"
    msg_ids = [r["structuredContent"]["msg_id"] for r in results]
    assert msg_ids == sorted(msg_ids), "ids follow the order of the requests"
    assert len(set(msg_ids)) == count, "ids follow the order of the requests"
    wait_until(lambda: len(bob.channel_events) >= count, timeout=60, what="bob receives every message")
    assert [e.content for e in bob.channel_events] == [f"burst {i}" for i in range(count)]
    assert bob.findings == []
    # fakeclaude did not send the raw lines as its own requests, so it flags each answer as unexpected.
    assert {f.kind for f in alice.findings} <= {"unexpected_response"}


def _claude_code_meta(tool_use: int) -> dict[str, object]:
    """The ``_meta`` every real Claude Code tools/call carries (fakeclaude/profiles)."""
    return {"claudecode/toolUseId": f"toolu_{tool_use:024d}", "progressToken": tool_use}


def test_claude_codes_meta_changes_no_answer(fakeclaude_bus: Sandbox) -> None:
    """A progress token allows progress notifications; the adapter sends none and answers as without it."""
    alice, _bob = fakeclaude_bus.start_sessions("alice", "bob")

    def bob_receives_by_push() -> bool:
        rows = alice.call_tool("list_peers").structured["peers"]
        return any(row["name"] == "bob" and row["can_push"] for row in rows)

    wait_until(bob_receives_by_push, timeout=10, what="bob's door to open (his list_peers row must not change)")
    calls = [
        ("whoami", {}),
        ("list_peers", {}),
        ("send_message", {"to": "bob", "text": "x" * 70_000}),
        ("send_message", {"to": "bob", "text": 42}),
        ("send_message", {"to": "bob", "text": "hi", "bogus": True}),
        ("no_such_tool", {}),
        ("set_name", {"name": "alice"}),
    ]
    for number, (name, arguments) in enumerate(calls):
        with_meta = alice.request(
            "tools/call", {"name": name, "arguments": arguments, "_meta": _claude_code_meta(number)}
        )
        without = alice.request("tools/call", {"name": name, "arguments": arguments})
        assert "result" in with_meta, (with_meta, without)
        assert "result" in without, (with_meta, without)
        assert with_meta["result"] == without["result"], name
    assert [r.method for r in alice.notifications] == []
    assert alice.findings == []


def _sdk_loaded(pid: int) -> bool:
    """pydantic's compiled core is mapped into the process once the MCP SDK (or its types) is imported."""
    return "_pydantic_core" in Path(f"/proc/{pid}/maps").read_text()


def test_tools_list_and_ping_answer_the_same_with_a_meta(fakeclaude_bus: Sandbox) -> None:
    alice = fakeclaude_bus.start_session("alice")
    for method in ("tools/list", "ping"):
        plain = alice.request(method)
        with_meta = alice.request(method, {"_meta": {"progressToken": f"t-{method}"}})
        assert plain["result"] == with_meta["result"], method
    assert alice.findings == []


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/<pid>/maps")
def test_the_mcp_sdk_is_never_loaded(fakeclaude_bus: Sandbox) -> None:
    """Real Claude Code traffic (calls with _meta) and unknown methods alike are the adapter's own work."""
    alice, bob = fakeclaude_bus.start_sessions("alice", "bob")
    assert alice.adapter_pid is not None
    alice.list_tools()
    alice.ping()
    sent = alice.request(
        "tools/call", {"name": "send_message", "arguments": {"to": "bob", "text": "hi"}, "_meta": _claude_code_meta(2)}
    )
    assert sent["result"]["isError"] is False
    assert bob.wait_for_channel(timeout=5).content == "hi"
    alice.notify("notifications/cancelled", {"requestId": "gone"})
    unknown = alice.request("resources/list")
    assert unknown["error"]["code"] == -32601
    assert alice.request(
        "initialize",
        {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "again", "version": "1"}},
    )["result"]["capabilities"]
    assert not _sdk_loaded(alice.adapter_pid), "the adapter imported the MCP SDK"
    assert alice.findings == []
