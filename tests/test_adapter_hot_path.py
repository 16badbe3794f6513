"""The claude-mcp hot path: pipelined tool calls answered without the SDK dispatcher, like the SDK would."""

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
    count = 1500  # more than local.MAX_CALLS_IN_FLIGHT: the reader waits for free slots part of the time
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
    assert msg_ids == sorted(msg_ids) and len(set(msg_ids)) == count, "ids follow the order of the requests"
    wait_until(lambda: len(bob.channel_events) >= count, timeout=60, what="bob receives every message")
    assert [e.content for e in bob.channel_events] == [f"burst {i}" for i in range(count)]
    assert bob.findings == []
    # fakeclaude did not send the raw lines as its own requests, so it flags each answer as unexpected.
    assert {f.kind for f in alice.findings} <= {"unexpected_response"}


def test_the_hot_path_answers_exactly_as_the_sdk_does(fakeclaude_bus: Sandbox) -> None:
    """A progress token sends a call through the SDK; without one the adapter answers it directly."""
    alice, _bob = fakeclaude_bus.start_sessions("alice", "bob")
    calls = [
        ("whoami", {}),
        ("list_peers", {}),
        ("send_message", {"to": "bob", "text": "x" * 70_000}),
        ("send_message", {"to": "bob", "text": 42}),
        ("send_message", {"to": "bob", "text": "hi", "bogus": True}),
        ("no_such_tool", {}),
        ("set_name", {"name": "alice"}),
    ]
    for name, arguments in calls:
        via_sdk = alice.request(
            "tools/call", {"name": name, "arguments": arguments, "_meta": {"progressToken": f"t-{name}"}}
        )
        direct = alice.request("tools/call", {"name": name, "arguments": arguments})
        assert "result" in via_sdk and "result" in direct, (via_sdk, direct)
        assert direct["result"] == via_sdk["result"], name
    assert alice.findings == []


def _sdk_loaded(pid: int) -> bool:
    """pydantic's compiled core is mapped into the process once the MCP SDK (or its types) is imported."""
    return "_pydantic_core" in Path(f"/proc/{pid}/maps").read_text()


def test_tools_list_and_ping_are_answered_as_the_sdk_answers_them(fakeclaude_bus: Sandbox) -> None:
    alice = fakeclaude_bus.start_session("alice")
    for method in ("tools/list", "ping"):
        local = alice.request(method)
        via_sdk = alice.request(method, {"_meta": {"progressToken": f"t-{method}"}})
        assert local["result"] == via_sdk["result"], method
    assert alice.findings == []


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/<pid>/maps")
def test_the_sdk_is_loaded_only_for_a_message_left_to_it(fakeclaude_bus: Sandbox) -> None:
    alice, bob = fakeclaude_bus.start_sessions("alice", "bob")
    assert alice.adapter_pid is not None
    alice.list_tools()
    alice.ping()
    assert not alice.call_tool("send_message", {"to": "bob", "text": "hi"}).is_error
    assert bob.wait_for_channel(timeout=5).content == "hi"
    alice.notify("notifications/cancelled", {"requestId": "gone"})
    alice.ping()  # answered after the notification: it was read
    assert not _sdk_loaded(alice.adapter_pid), "a session's normal life needs no SDK"

    unknown = alice.request("resources/list")
    assert unknown["error"]["code"] == -32601  # the SDK's own answer
    assert _sdk_loaded(alice.adapter_pid)
    # From then on both work: the SDK for what it serves, the local answers for the rest.
    assert not alice.call_tool("send_message", {"to": "bob", "text": "after"}).is_error
    assert bob.wait_for_channel(timeout=5).content == "after"
    assert alice.request("tools/list", {"_meta": {"progressToken": 1}})["result"]["tools"]
    assert alice.findings == []
