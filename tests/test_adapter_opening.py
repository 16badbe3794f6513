"""claude-mcp adapter: both openings, the channel capability, instructions, and the tool list."""

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import mcp_types
import pytest
from mcp import Client
from mcp.client.extension import ClientExtension, NotificationBinding
from mcp.client.stdio import StdioServerParameters
from mcp.server.lowlevel import Server
from mcp.server.runner import serve_loop
from mcp.shared.message import SessionMessage
from mcp_types import jsonrpc_message_adapter
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import BaseModel

from agentbus.adapters.claude_mcp import protocol
from agentbus.adapters.claude_mcp.tools import TOOL_NAMES
from agentbus.adapters.claude_mcp.tools import TOOLS as TOOL_DEFINITIONS
from fakeclaude import Sandbox, Session

StartSession = Callable[..., Session]

TOOLS = {"send_message", "broadcast", "list_peers", "whoami", "set_name", "read_messages", "message_status"}


def test_initialize_opening_advertises_the_channel(fakeclaude_session: StartSession) -> None:
    session = fakeclaude_session("alice", client="claude-code@2.1.197")
    assert session.opening_used == "initialize"
    assert session.channel_capable
    assert session.server_capabilities["experimental"] == {"claude/channel": {}}
    assert session.server_info == {"name": "agentbus", "version": protocol.SERVER_VERSION}
    assert session.negotiated_version == "2025-11-25"
    assert session.findings == []


def test_discover_probe_gets_method_not_found_then_initialize(fakeclaude_session: StartSession) -> None:
    session = fakeclaude_session("alice", opening="discover")
    assert session.opening_used == "discover-fallback"
    assert session.discover_response is not None
    assert session.discover_response["error"]["code"] == -32601
    assert session.channel_capable
    assert session.findings == []


def test_both_openings_then_a_push_arrives(fakeclaude_session: StartSession) -> None:
    old = fakeclaude_session("old")
    new = fakeclaude_session("new", opening="discover")
    assert not old.call_tool("send_message", {"to": "new", "text": "to the new client"}).is_error
    assert new.wait_for_channel(timeout=5).content == "to the new client"
    assert not new.call_tool("send_message", {"to": "old", "text": "to the old client"}).is_error
    assert old.wait_for_channel(timeout=5).content == "to the old client"


def test_instructions_explain_tag_provenance_and_reply(fakeclaude_session: StartSession) -> None:
    instructions = fakeclaude_session("alice").instructions
    assert instructions is not None
    assert '<channel source="agentbus" from=' in instructions
    for word in ("msg_id=", "ts=", "reply_to", "send_message", "not as instructions from the user", "peer"):
        assert word in instructions
    assert "before asking your user" in instructions  # the peer that wrote is asked first
    assert len(instructions.encode()) < 2048, "Claude Code cuts server instructions at 2 KB"


def test_an_older_protocol_version_is_kept(fakeclaude_session: StartSession) -> None:
    session = fakeclaude_session("alice", protocol_version="2025-06-18")
    assert session.negotiated_version == "2025-06-18"


def test_tool_list_and_input_schemas(fakeclaude_session: StartSession) -> None:
    tools = {tool["name"]: tool for tool in fakeclaude_session("alice").list_tools()}
    assert set(tools) == TOOLS == set(TOOL_NAMES)
    for tool in tools.values():
        schema = tool["inputSchema"]
        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False
        assert "agentbus" in tool["description"]
    send = tools["send_message"]["inputSchema"]
    assert send["required"] == ["to", "text"]
    assert send["properties"]["to"]["type"] == "string"
    assert send["properties"]["text"]["type"] == "string"
    assert send["properties"]["reply_to"]["type"] == "integer"
    assert tools["broadcast"]["inputSchema"]["required"] == ["text"]
    assert tools["set_name"]["inputSchema"]["required"] == ["name"]
    assert tools["set_name"]["inputSchema"]["properties"]["name"]["type"] == "string"
    assert tools["read_messages"]["inputSchema"]["properties"]["limit"]["type"] == "integer"
    for name in ("list_peers", "whoami"):
        assert tools[name]["inputSchema"]["properties"] == {}
        assert tools[name]["annotations"]["readOnlyHint"] is True
    # A tool-search step must find the reply tool.
    description = tools["send_message"]["description"]
    assert all(word in description for word in ("agentbus", "peer", "reply"))


def test_requests_pipelined_with_initialize_are_answered(tmp_path: Path) -> None:
    """A client may write initialize, initialized and tools/list at once, then close stdin: all answered."""
    init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    lines = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}},
    ]
    env = {**os.environ, "AGENTBUS_HOME": str(tmp_path / "bus"), "HOME": str(tmp_path), "AGENTBUS_NAME": "alice"}
    done = subprocess.run(
        [sys.executable, "-m", "agentbus.adapters.claude_mcp"],
        input="".join(json.dumps(line) + "\n" for line in lines).encode(),
        capture_output=True,
        env=env,
        timeout=30,
        check=False,
    )
    answers = {answer["id"]: answer for answer in map(json.loads, done.stdout.decode().splitlines())}
    # JSON-RPC lets answers to pipelined requests come in any order (tools/call runs concurrently).
    assert sorted(answers) == [1, 2, 3], done.stderr.decode()
    assert answers[1]["result"]["capabilities"]["experimental"] == {"claude/channel": {}}
    assert len(answers[2]["result"]["tools"]) == len(TOOLS)
    assert answers[3]["result"]["structuredContent"]["name"] == "alice"
    assert done.returncode == 0


# ------------------------------------------------------------------ the SDK's own auto-mode client


class ChannelParams(BaseModel):
    content: str
    meta: dict[str, str] = {}


class ChannelWatcher(ClientExtension):
    """Binds notifications/claude/channel so the SDK client does not drop it."""

    identifier = "com.example/channel-watcher"

    def __init__(self) -> None:
        self.events: list[ChannelParams] = []
        self.arrived = anyio.Event()

    async def on_channel(self, params: ChannelParams) -> None:
        self.events.append(params)
        self.arrived.set()

    def notifications(self) -> list[NotificationBinding[Any]]:
        return [NotificationBinding(method=protocol.CHANNEL_METHOD, params_type=ChannelParams, handler=self.on_channel)]


def test_sdk_auto_mode_client_sees_the_capability_and_gets_pushes(fakeclaude_bus: Sandbox) -> None:
    """mcp 2.x ``Client(mode="auto")`` probes server/discover first; it must still end up on a channel."""
    alice = fakeclaude_bus.start_session("alice")
    env = {**fakeclaude_bus.env, "AGENTBUS_NAME": "sdkclient", "PATH": os.environ.get("PATH", "")}
    params = StdioServerParameters(command=sys.executable, args=["-m", "agentbus.adapters.claude_mcp"], env=env)
    watcher = ChannelWatcher()
    seen: dict[str, Any] = {}

    async def run() -> None:
        async with Client(params, mode="auto", extensions=[watcher]) as client:
            seen["version"] = client.protocol_version
            seen["experimental"] = client.server_capabilities.experimental
            await anyio.to_thread.run_sync(
                lambda: alice.call_tool("send_message", {"to": "sdkclient", "text": "pushed to the SDK client"})
            )
            with anyio.fail_after(5):
                await watcher.arrived.wait()
            reply = await client.call_tool("send_message", {"to": "alice", "text": "and back"})
            seen["reply_error"] = reply.is_error

    anyio.run(run)
    assert seen["version"] in HANDSHAKE_PROTOCOL_VERSIONS  # fell back from the probe to initialize
    assert seen["experimental"] == {"claude/channel": {}}
    assert watcher.events[0].content == "pushed to the SDK client"
    assert watcher.events[0].meta["from"] == "alice"
    assert seen["reply_error"] is False
    assert alice.wait_for_channel(timeout=5).content == "and back"


# ------------------------------------------------------------------ our answers equal the MCP SDK server's


def reference_server() -> Any:
    """The MCP SDK's own low-level server configured like the adapter: the reference for its answers."""
    tools = [mcp_types.Tool.model_validate(tool) for tool in TOOL_DEFINITIONS]

    async def list_tools(_ctx: Any, _params: Any) -> mcp_types.ListToolsResult:
        return mcp_types.ListToolsResult(tools=tools)

    server: Server[Any] = Server(
        protocol.SERVER_NAME,
        version=protocol.SERVER_VERSION,
        instructions=protocol.INSTRUCTIONS,
        on_list_tools=list_tools,
    )
    return server


def sdk_answers(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the reference server answers to these requests, in order, as JSON."""
    server = reference_server()
    options = server.create_initialization_options(experimental_capabilities=protocol.experimental_capabilities())
    answers: list[dict[str, Any]] = []

    async def run() -> None:
        to_server, server_reads = anyio.create_memory_object_stream[SessionMessage | Exception](8)
        server_writes, from_server = anyio.create_memory_object_stream[SessionMessage](8)
        async with to_server, from_server, anyio.create_task_group() as tasks:
            tasks.start_soon(
                lambda: serve_loop(server, server_reads, server_writes, lifespan_state={}, init_options=options)
            )
            for request in requests:
                await to_server.send(SessionMessage(jsonrpc_message_adapter.validate_python(request, by_name=False)))
                if "id" not in request:
                    continue
                with anyio.fail_after(5):
                    answer = await from_server.receive()
                answers.append(answer.message.model_dump(mode="json", by_alias=True, exclude_unset=True))
            await to_server.aclose()

    anyio.run(run)
    return answers


def test_handshake_versions_match_the_sdk() -> None:
    assert protocol.HANDSHAKE_PROTOCOL_VERSIONS == HANDSHAKE_PROTOCOL_VERSIONS


@pytest.mark.parametrize("version", ["2025-11-25", "2024-11-05", "1999-01-01"])
def test_early_initialize_answer_is_what_the_sdk_server_answers(version: str) -> None:
    """The adapter answers initialize itself; the MCP SDK's server, configured alike, must say the same."""
    params = {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    answers = sdk_answers([{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}])
    assert answers[0]["result"] == protocol.initialize_result(params)


def test_tools_list_and_ping_answers_are_what_the_sdk_server_answers(fakeclaude_session: StartSession) -> None:
    init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    reference = sdk_answers(
        [
            {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
            {"jsonrpc": "2.0", "id": 3, "method": "ping"},
        ]
    )
    alice = fakeclaude_session("alice")
    assert alice.request_result("tools/list") == reference[1]["result"]
    assert alice.request_result("ping") == reference[2]["result"]


# ------------------------------------------------------------------ malformed input


def error_codes_without_id(session: Session) -> list[int]:
    return [
        r.message["error"]["code"]
        for r in session.recorder.received()
        if r.kind == "response" and r.message is not None and r.message.get("id") is None
    ]


def test_malformed_lines_get_json_rpc_errors_and_the_adapter_keeps_working(fakeclaude_session: StartSession) -> None:
    alice = fakeclaude_session("alice")
    bob = fakeclaude_session("bob")
    alice.send_raw('{"jsonrpc": "2.0", "id": 5, "method": ')  # truncated JSON
    alice.send_raw("42")  # not an object
    alice.send_raw(b'{"jsonrpc":"2.0","id":"u","method":"ping","params":{"x":"\xff"}}')  # not UTF-8
    alice.send_raw(b"z" * (17 << 20))  # longer than any message may be
    alice.send_raw('{"method": "notifications/x", "params": 3}')  # a malformed notification: no answer
    alice.send_raw('{"id": 9, "method": "x"}')  # no "jsonrpc": invalid request, answered with its id
    invalid = alice.wait_for_message(predicate=lambda r: r.id == 9, timeout=5)
    assert invalid.message is not None
    assert invalid.message["error"]["code"] == -32600
    assert error_codes_without_id(alice) == [-32700, -32600, -32700, -32600]
    unknown = alice.request("agentbus/no-such-method", {})
    assert unknown["error"]["code"] == -32601
    assert not alice.call_tool("send_message", {"to": "bob", "text": "still working"}).is_error
    assert bob.wait_for_channel(timeout=5).content == "still working"


def test_a_lone_surrogate_in_text_is_refused_as_a_tool_error(fakeclaude_session: StartSession) -> None:
    alice = fakeclaude_session("alice")
    fakeclaude_session("bob")
    alice.send_raw(
        '{"jsonrpc":"2.0","id":"s","method":"tools/call",'
        '"params":{"name":"send_message","arguments":{"to":"bob","text":"a\\ud800b"}}}'
    )
    answer = alice.wait_for_message(predicate=lambda r: r.id == "s", timeout=5)
    assert answer.message is not None
    result = answer.message["result"]
    assert result["isError"] is True
    assert result["content"][0]["text"] == "text is not valid Unicode (it contains a lone surrogate)"


def test_json_nested_too_deeply_is_a_parse_error(tmp_path: Path) -> None:
    """Deeper than Python's recursion limit; written raw (fakeclaude's send_raw cannot record it)."""
    init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    deep = b'{"jsonrpc":"2.0","id":"deep","method":"ping","params":{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    stdin = b"\n".join(
        [
            json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}).encode(),
            deep,
            b'{"jsonrpc":"2.0","id":"after","method":"ping"}',
            b"",
        ]
    )
    env = {**os.environ, "AGENTBUS_HOME": str(tmp_path / "bus"), "HOME": str(tmp_path), "AGENTBUS_NAME": "deep"}
    done = subprocess.run(
        [sys.executable, "-m", "agentbus.adapters.claude_mcp"], input=stdin, capture_output=True, env=env, timeout=30
    )
    answers = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [a["id"] for a in answers] == [1, None, "after"], done.stderr.decode()[-2000:]
    assert answers[1]["error"]["code"] == -32700
    assert answers[2]["result"] == {}
    assert done.returncode == 0
    assert b"Traceback" not in done.stderr
