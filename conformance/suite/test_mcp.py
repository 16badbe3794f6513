"""SPEC section 8: the MCP adapter protocol (handshake, both openings, tools, errors, malformed input)."""

import json
import re
from typing import Any

from conformance.checks import assert_alive, send
from conformance.harness import Harness
from conformance.marks import requires, rule
from fakeclaude import JsonRpcError, Session

REQUIRED_TOOLS = {
    "send_message": ("to", "text"),
    "broadcast": ("text",),
    "list_peers": (),
    "whoami": (),
    "set_name": ("name",),
}


@rule("MCP-1")
def test_stdout_carries_only_jsonrpc_lines(harness: Harness) -> None:
    """MCP-1: The adapter speaks JSON-RPC 2.0 over stdio, one message per line, and writes nothing else
    to stdout. Logs go to stderr."""
    alice, bob = harness.start_many(["alice", "bob"], env={"AGENTBUS_LOG_LEVEL": "DEBUG"})
    alice.list_tools()
    send(alice, "bob", "hello over stdio")
    bob.wait_for_channel(timeout=5)
    alice.call_tool("send_message", {"to": "alice", "text": "self"})
    alice.call_tool("whoami", {})
    alice.call_tool("list_peers", {})
    for session in (alice, bob):
        assert_alive(session)
        junk = session.junk
        assert not junk, "non-JSON-RPC lines on stdout:\n" + "\n".join(r.describe() for r in junk)
        bad = [f.describe() for f in session.violations if f.kind in ("junk_on_stdout", "unexpected_response")]
        assert not bad, "\n".join(bad)


@rule("MCP-2")
def test_instructions_explain_the_tag_the_senders_and_the_reply(harness: Harness) -> None:
    """MCP-2: The `initialize` result carries `instructions` explaining the `<channel>` tag, that senders
    are other agents, and how to reply."""
    alice = harness.start("alice", opening="initialize")  # Claude Code 2.1.197 opens so
    assert alice.opening_used == "initialize"
    text = alice.instructions or ""
    assert "<channel" in text, f"instructions do not explain the <channel> tag: {text!r}"
    assert re.search(r"\bagents?\b|\bpeers?\b", text, re.I), f"instructions do not say senders are agents: {text!r}"
    assert "send_message" in text, f"instructions do not say how to reply (send_message): {text!r}"


@rule("MCP-2")
@requires("channel_door")
def test_initialize_declares_the_channel_capability(harness: Harness) -> None:
    """MCP-2: ... an adapter of delivery `mcp-channel` also declares
    `capabilities.experimental["claude/channel"]` (an object) there."""
    alice = harness.start("alice", opening="initialize")
    experimental = alice.server_capabilities.get("experimental")
    assert isinstance(experimental, dict), f"no capabilities.experimental: {alice.server_capabilities}"
    assert isinstance(experimental.get("claude/channel"), dict), (
        f"experimental['claude/channel'] must be an object, got {experimental.get('claude/channel')!r}"
    )


@rule("MCP-3")
def test_discover_opening_falls_back_to_initialize_and_pushes(harness: Harness) -> None:
    """MCP-3: A client that opens with `server/discover` (2026-07-28 protocol) must end up with the
    channel capability and working pushes. agentbus answers `server/discover` with error -32601 so the
    client falls back to `initialize`."""
    alice = harness.start("alice")
    bob = harness.start("bob", opening="discover")
    response = bob.discover_response or {}
    assert "error" in response, f"server/discover was answered with a result: {response}"
    assert response["error"].get("code") == -32601, f"server/discover error is not -32601: {response}"
    assert bob.opening_used == "discover-fallback"
    assert bob.channel_capable, f"no channel capability after the fallback: {bob.server_capabilities}"
    send(alice, "bob", "pushed after a discover opening")
    bob.assert_channel("pushed after a discover opening", within=5, from_="alice")


@rule("MCP-4")
def test_tools_exist_with_input_schemas(harness: Harness) -> None:
    """MCP-4: Tools `send_message(to, text)`, `broadcast(text)`, `list_peers()`, `whoami()`,
    `set_name(name)` exist with JSON Schema input schemas naming their arguments (`to`, `text`, `name`
    required where given)."""
    alice = harness.start("alice")
    tools = {str(t.get("name")): t for t in alice.list_tools()}
    missing = sorted(set(REQUIRED_TOOLS) - set(tools))
    assert not missing, f"missing tools {missing}; listed: {sorted(tools)}"
    for name, arguments in REQUIRED_TOOLS.items():
        schema = tools[name].get("inputSchema")
        assert isinstance(schema, dict), f"{name}: inputSchema {schema!r}"
        assert schema.get("type") == "object", f"{name}: inputSchema {schema!r}"
        properties = schema.get("properties") or {}
        required = schema.get("required") or []
        for argument in arguments:
            assert argument in properties, f"{name}: inputSchema does not name {argument!r}: {schema}"
            assert argument in required, f"{name}: {argument!r} is not required: {schema}"


@rule("MCP-5")
def test_tool_failures_are_tool_errors_with_one_sentence(harness: Harness) -> None:
    """MCP-5: A tool failure is a tool result with `isError: true` and one sentence saying what was wrong
    (unknown or invalid name, self-send, body too large, name taken, wrong types), never a JSON-RPC
    internal error and never a crash."""
    alice, _bob = harness.start_many(["alice", "bob"], env={"AGENTBUS_MAX_BODY": "64"})
    cases: dict[str, tuple[str, dict[str, Any]]] = {
        "invalid name": ("send_message", {"to": "Not A Name!", "text": "hi"}),
        "self-send": ("send_message", {"to": "alice", "text": "hi"}),
        "body too large": ("send_message", {"to": "bob", "text": "x" * 65}),
        "name taken": ("set_name", {"name": "bob"}),
        "wrong type for to": ("send_message", {"to": 7, "text": "hi"}),
        "wrong type for text": ("send_message", {"to": "bob", "text": None}),
        "invalid new name": ("set_name", {"name": "*"}),
    }
    problems = []
    for what, (tool, arguments) in cases.items():
        try:
            result = alice.call_tool(tool, arguments)
        except JsonRpcError as exc:
            problems.append(f"{what}: JSON-RPC error {exc.code} instead of a tool error: {exc.message}")
            continue
        text = result.text.strip()
        if not result.is_error:
            problems.append(f"{what}: not refused (isError false): {text!r}")
        elif not text or "\n" in text or len(text) > 400 or "Traceback" in text:
            problems.append(f"{what}: the error is not one short sentence: {text!r}")
    assert_alive(alice)
    assert not problems, "\n".join(problems)


def _responses_without_id(session: Session) -> list[dict[str, Any]]:
    records = session.recorder.received()
    return [r.message for r in records if r.kind == "response" and r.message and r.message.get("id") is None]


@rule("MCP-6")
def test_invalid_json_gets_a_parse_error(harness: Harness) -> None:
    """MCP-6: Malformed input on stdin (invalid JSON, ...) gets a JSON-RPC error response where the
    protocol allows one and is otherwise ignored; the adapter keeps working."""
    alice = harness.start("alice")
    alice.send_raw('{"jsonrpc": "2.0", "id": 5, "method": ')
    assert_alive(alice)
    errors = _responses_without_id(alice)
    codes = [e.get("error", {}).get("code") for e in errors]
    assert -32700 in codes, (
        "invalid JSON must be answered with a parse error (code -32700, id null), as JSON-RPC 2.0 requires; "
        f"responses with id null: {errors}\n{alice.recorder.dump(last=10)}"
    )


@rule("MCP-6")
def test_non_object_gets_an_invalid_request_error(harness: Harness) -> None:
    """MCP-6: Malformed input on stdin (..., a non-object, ...) gets a JSON-RPC error response where the
    protocol allows one and is otherwise ignored; the adapter keeps working."""
    alice = harness.start("alice")
    alice.send_raw("42")
    alice.send_raw('"hello"')
    assert_alive(alice)
    errors = _responses_without_id(alice)
    codes = [e.get("error", {}).get("code") for e in errors]
    assert codes.count(-32600) >= 2, (
        "a JSON value that is not a request object must be answered with an invalid-request error "
        f"(code -32600, id null) each time; responses with id null: {errors}\n{alice.recorder.dump(last=10)}"
    )


@rule("MCP-6")
def test_unknown_method_and_invalid_params_get_errors(harness: Harness) -> None:
    """MCP-6: Malformed input on stdin (..., an unknown method, invalid params, ...) gets a JSON-RPC error
    response where the protocol allows one and is otherwise ignored; the adapter keeps working."""
    alice = harness.start("alice")
    unknown = alice.request("agentbus/no-such-method", {})
    assert unknown.get("error", {}).get("code") == -32601, f"unknown method: {unknown}"
    alice.notify("notifications/agentbus-unknown", {})
    bad = alice.request("tools/call", {"name": 12, "arguments": "not an object"})
    assert "error" in bad or bad.get("result", {}).get("isError") is True, f"invalid params accepted: {bad}"
    if "error" in bad:
        assert bad["error"].get("code") != -32603, f"invalid params answered as an internal error: {bad}"
    assert_alive(alice)
    stray = [f.describe() for f in alice.violations if f.kind == "unexpected_response"]
    assert not stray, "responses to a notification or to nothing:\n" + "\n".join(stray)


@rule("MCP-6")
def test_bad_bytes_and_overlong_lines_leave_the_adapter_working(harness: Harness) -> None:
    """MCP-6: Malformed input on stdin (..., invalid UTF-8, an over-long line) gets a JSON-RPC error
    response where the protocol allows one and is otherwise ignored; the adapter keeps working."""
    alice, bob = harness.start_many(["alice", "bob"])
    bad_utf8 = b'{"jsonrpc": "2.0", "id": "u1", "method": "ping", "params": {"x": "\xff\xfe"}}'
    alice.send_raw(bad_utf8)
    alice.send_raw(b"\xc3\x28\xa0\xa1 not even json")
    overlong = json.dumps({"jsonrpc": "2.0", "method": "notifications/x", "params": {"pad": "x" * (17 << 20)}})
    alice.send_raw(overlong)
    alice.send_raw(b"y" * (17 << 20))
    assert_alive(alice)
    send(alice, "bob", "still working after garbage")
    bob.assert_channel("still working after garbage", within=5, from_="alice")


@rule("MCP-7")
def test_tools_are_findable_by_search(harness: Harness) -> None:
    """MCP-7: Tool names and descriptions contain "agentbus", "peer" and "reply" so a client that defers
    tools behind a search step finds them."""
    alice = harness.start("alice")
    tools = {t.get("name"): t for t in alice.list_tools()}
    words = " ".join(f"{name} {tool.get('description', '')}" for name, tool in tools.items()).lower()
    missing = [w for w in ("agentbus", "peer", "reply") if w not in words]
    assert not missing, f"tool names and descriptions never mention {missing}"
    send_text = f"send_message {tools.get('send_message', {}).get('description', '')}".lower()
    assert "reply" in send_text, f"send_message (the reply tool) should mention 'reply' and 'agentbus': {send_text!r}"
    assert "agentbus" in send_text, (
        f"send_message (the reply tool) should mention 'reply' and 'agentbus': {send_text!r}"
    )
    undiscoverable = [n for n, t in tools.items() if "agentbus" not in f"{n} {t.get('description', '')}".lower()]
    assert not undiscoverable, f"tools whose name and description never say 'agentbus': {undiscoverable}"


#: A client that is not Claude Code listens once initialized: how soon waiting mail must reach it (MCP-8).
OTHER_CLIENT_WITHIN = 0.5


@rule("MCP-8")
def test_no_channel_event_before_the_client_listens(harness: Harness) -> None:
    """MCP-8: No channel event is written before the client can hear it: never before
    `notifications/initialized`; to Claude Code (`clientInfo.name` `claude-code`) not before the answer
    to its `tools/list` and the settle time after it."""
    alice = harness.start("alice")
    queued = send(alice, "bob", "waiting for bob while he is offline")
    assert not queued.is_error, queued.text
    bob = harness.start("bob")  # fakeclaude drops events for the profile's window after tools/list
    event = bob.wait_for_channel(timeout=10)
    assert event.content == "waiting for bob while he is offline"
    assert bob.dropped_events == [], (
        "channel events were written before the client listened (Claude Code drops them): "
        + "; ".join(d.reason for d in bob.dropped_events)
    )
    assert bob.channel_ready_at is not None
    assert event.received_at >= bob.channel_ready_at


@rule("MCP-8")
def test_a_client_that_is_not_claude_code_gets_its_mail_once_initialized(harness: Harness) -> None:
    """MCP-8: ... Any other client gets mail waiting at start at once after its
    `notifications/initialized` (within 0.5 s, under a gated client's 1.5 s): the gate is Claude Code's alone."""
    alice = harness.start("alice")
    send(alice, "carol", "waiting for a client that never lists tools")
    carol = harness.start(
        "carol",
        client_info={"name": "mcp-typescript-client", "version": "1.0.0"},
        list_tools_on_start=False,
        channel_handler_delay=0.0,
    )
    initialized = next(r.at for r in carol.recorder.sent() if r.method == "notifications/initialized")
    event = carol.wait_for_channel(timeout=5)
    assert event.content == "waiting for a client that never lists tools"
    late = event.received_at - initialized
    assert late <= OTHER_CLIENT_WITHIN, f"pushed {late * 1000:.0f} ms after notifications/initialized"


#: Pairs of calls (with, then without _meta) MCP-9 makes before it judges one answer different.
META_PAIR_ATTEMPTS = 3


@rule("MCP-9")
def test_a_tool_call_with_claude_codes_meta_is_answered_as_one_without(harness: Harness) -> None:
    """MCP-9: A `tools/call` whose params carry `_meta` (Claude Code sends `claudecode/toolUseId` and
    `progressToken` with every call) is answered exactly as the same call without it."""
    alice, _bob = harness.start_many(["alice", "bob"])
    assert alice.profile.tools_call_meta_keys, f"profile {alice.profile.id} records no tools/call _meta"
    for name, arguments in (("whoami", {}), ("list_peers", {}), ("send_message", {"to": "nobody-here", "text": 5})):
        # The two calls are moments apart, and the bus may change between them (bob starts receiving
        # by push a moment after his tools/list, which list_peers shows): a pair that differs is taken
        # again. An adapter whose answer depends on _meta differs in every pair.
        for _attempt in range(META_PAIR_ATTEMPTS):
            alice.tool_call_meta = True
            with_meta = alice.request("tools/call", {"name": name, "arguments": arguments})
            sent = alice.recorder.sent("tools/call")[-1].message or {}
            assert set(sent["params"]["_meta"]) == set(alice.profile.tools_call_meta_keys), sent
            alice.tool_call_meta = False
            without = alice.request("tools/call", {"name": name, "arguments": arguments})
            if with_meta.get("result") == without.get("result"):
                break
        assert with_meta.get("result") == without.get("result"), (
            f"{name} answered differently with Claude Code's _meta in {META_PAIR_ATTEMPTS} pairs of calls: "
            f"{with_meta} != {without}"
        )
        assert "result" in with_meta, f"{name} with Claude Code's _meta: {with_meta}"
    progress = [r for r in alice.notifications if r.method == "notifications/progress"]
    assert all(isinstance(r.message, dict) for r in progress)  # optional, but well-formed if sent
