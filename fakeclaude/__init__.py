"""fakeclaude: the client side of Claude Code, for testing agentbus adapters against a real process.

Library (synchronous; reader threads and a Condition, no asyncio)::

    from fakeclaude import Sandbox

    with Sandbox() as bus:                        # temp AGENTBUS_HOME and HOME
        alice = bus.start_session("alice")        # adapter "claude-mcp", plain initialize opening
        bob = bus.start_session("bob", opening="discover")   # server/discover probe, then fallback
        alice.call_tool("send_message", {"to": "bob", "text": "hi"})
        event = bob.wait_for_channel(timeout=5)   # ChannelEvent(content, meta, rendered, received_at)
        print(event.rendered)                     # <channel source="agentbus" from="alice" ...>hi</channel>

``Session(adapter, name=, bus_home=, home=, env=, channels=True, client=None, opening=None,
protocol_version=None, channel_handler_delay=None, as_claude=True, list_tools_on_start=True,
tool_call_meta=True, on_channel=, ...)``; ``adapter`` is an ``agentbus.adapters`` entry-point name or a
module.json path. ``client`` names a recorded client profile (``fakeclaude.profiles``:
``claude-code@2.1.197``, ``@2.1.331``, ``@2.1.337``; default the newest): the session then sends what
that Claude Code binary sent, byte for byte where the binary's bytes are known: its opening (2.1.331
probes ``server/discover`` first, 2.1.197 sends ``initialize`` at once), its initialize params,
``notifications/initialized`` and ``tools/list`` in one write, and ``tools/call`` with its ``_meta``
(a fresh ``claudecode/toolUseId`` and the request id as ``progressToken``). ``opening``,
``protocol_version``, ``client_info`` and ``client_capabilities`` override the profile. Like the real
client, it registers its channel handler only ``channel_handler_delay`` seconds (the profile's:
400 ms) after the ``tools/list`` answer: events that arrive sooner are dropped and recorded in
``dropped_events``; ``channel_ready_at`` and ``wait_channel_ready()`` tell when it listens. The
adapter gets the caller's environment minus every inherited ``AGENTBUS_*`` variable, plus
AGENTBUS_NAME, AGENTBUS_HOME, HOME and ``env``. With ``as_claude`` it runs as the child of a
stand-in process whose argv reads ``claude --dangerously-load-development-channels server:agentbus``
(just ``claude`` when ``channels=False``), because adapters may read their parent's argv; ``pid`` is
that stand-in, ``adapter_pid`` the adapter. ``start(timeout)`` = ``launch()`` + ``open(timeout)``.
Afterwards: ``opening_used`` ("initialize", "discover-fallback" or "discover"), ``discover_response``,
``server_capabilities``, ``channel_capable``, ``server_info``, ``instructions``,
``negotiated_version``, ``tools``.

Calls: ``request(method, params, timeout)`` (the raw response, ``result`` or ``error``),
``request_result`` (raises JsonRpcError), ``notify``, ``send_raw(line)``, ``ping()``,
``call_tool(name, arguments, timeout) -> ToolResult(is_error, text, structured, content, raw)``
(a JSON-RPC error raises JsonRpcError), ``list_tools()``. Requests from the adapter are answered
(ping, roots/list; anything else -32601).

Events: ``channel_events``; ``dropped_events`` (channels=False, no capability, or before the
handshake answer: what Claude Code silently drops); ``wait_for_channel(predicate, timeout)`` (each
event handed out once); ``assert_channel(content, within=0, **meta)`` (``from_=`` for ``from``;
values may be regexes; the AssertionError lists near misses); ``on_channel`` callbacks run on a
dispatcher thread and may call the session.

Diagnostics: ``recorder`` (every line both ways with ``time.monotonic()`` stamps; ``records``,
``sent()``, ``received()``, ``junk()``, ``clear()``, ``dump()``), ``wait_for_message``,
``findings`` / ``violations`` (junk on stdout, invalid channel params, stray responses, no exit on
EOF) / ``warnings`` (dropped meta keys, a successful server/discover), ``stderr`` (drained by a
thread), ``report()``. Ending: ``close(timeout) -> CloseResult(exit_code, exited, seconds_to_exit,
killed)`` (stdin EOF, then SIGKILL to the process group after ``timeout``), ``shutdown() ->
ShutdownResult(exit_code, signals, seconds, needed_kill)`` (the profile's client quitting: SIGINT,
SIGTERM 100 ms later, SIGKILL 400 ms after that, each only while the adapter runs),
``close_stdin()``, ``kill()``.

Claude Code's messaging socket (the native door; profiles 2.1.331 and later, ``native=False`` turns it
off): the session listens on a Unix socket (``fakeclaude.native.FakeMessagingSocket``,
``session.messaging``) and passes it and a token in CLAUDE_CODE_MESSAGING_SOCKET and
CLAUDE_CODE_MESSAGING_TOKEN; each text the adapter writes there becomes a ``ChannelEvent`` with
``via="native"``, and the transcript gets Claude Code's records for it (enqueued as written, shown
to the model inside the profile's framing). ``messaging.writes`` lists every write with the writer's
pid, ``messaging.refused`` what it did not take and why; ``vanish()`` and ``come_back()`` take the
socket away and back.

Codex adapters (manifest ``"doors": ["app-server"]``, e.g. ``codex``): the session runs a fake
Codex app-server (``fakeclaude.appserver.FakeAppServer``, ``session.app_server``: a WebSocket on a Unix
socket, answering as codex 0.169.0) and passes its socket in AGENTBUS_CODEX_SOCKET; each input it
accepts becomes a ``ChannelEvent`` with ``via="codex-app-server"`` (the ``<channel>`` tag read back
from the text), so the waits and assertions above work unchanged. ``app_server.refuse()``, ``hold()``,
``release()``, ``vanish()``, ``come_back()`` and ``accept()`` let a test prove that a message counts
as delivered only once Codex accepted it. Claude Code's own habits (channel handler delay, channels
flag, transcript) do not apply; ``channels=False`` means no app-server (the adapter pulls).

``Sandbox(root=None, adapter="claude-mcp")``: one ``bus_home`` and one ``home`` for several sessions;
``start_session(name, adapter=None, **kw)``, ``start_sessions(*names, **kw)`` (processes boot in
parallel), ``session(...)`` (not started), ``close_all()``.

Rendering (``fakeclaude.rendering``): ``render_channel(content, meta, source)``,
``parse_channel_tag(text)`` (its inverse), ``validate_params(params)``, ``escape_attribute``,
``defuse_content``. Every ``</channel`` in content, in any letter case, becomes ``<\\/channel``;
attribute values escape ``& < > " '``; meta keys not matching ``^[a-zA-Z_][a-zA-Z0-9_]*$`` (and a
``source`` key) are dropped from the tag.

pytest fixtures (plugin ``fakeclaude.pytest_plugin``, loaded through the ``pytest11`` entry point;
its one option ``--fakeclaude-client=PROFILE``, env FAKECLAUDE_CLIENT, ini fakeclaude_client, picks
the profile; the ``fakeclaude_client`` fixture holds it):

- ``fakeclaude_bus``: a ``Sandbox`` under ``tmp_path``; every session it started is closed (killed
  if needed) at teardown. ``fakeclaude_bus.start_sessions("alice", "bob")`` starts several at once.
- ``fakeclaude_session``: factory ``fakeclaude_session(name, adapter=None, **session_kwargs)``
  returning a started ``Session`` on ``fakeclaude_bus``.
- ``fakeclaude_adapter``: the default adapter (``"claude-mcp"``); override it in a conftest.py.

CLI: ``fakeclaude chat alice [--adapter claude-mcp] [--home DIR] [--client claude-code@2.1.197]`` and
``fakeclaude send --as alice bob "text"``.

Client profiles (``fakeclaude/profiles/claude-code@VERSION.json``) are recorded from the real binary:
``fakeclaude record-profile --claude PATH [--out DIR]`` runs it offline (a fake model, a recording tap
in front of the adapter) and writes the profile, so a new Claude Code release is one command away
from a new profile: ``npm install --prefix .cache/claude-code/V @anthropic-ai/claude-code@V``, then
``fakeclaude record-profile --claude .cache/claude-code/V/node_modules/.bin/claude``. The harness
behind it (``fakeclaude.live``) also drives the real-client tests in ``tests/live/``.
"""

from agentbus import __version__
from fakeclaude.appserver import FakeAppServer, TurnInput
from fakeclaude.errors import (
    AdapterExited,
    ChannelTimeout,
    FakeClaudeError,
    HandshakeError,
    JsonRpcError,
    RequestTimeout,
)
from fakeclaude.native import FakeMessagingSocket, NativeWrite
from fakeclaude.opening import DISCOVER_PROBE_ID
from fakeclaude.recorder import Recorder, WireRecord
from fakeclaude.rendering import (
    CHANNEL_METHOD,
    InvalidChannelParams,
    render_channel,
    render_params,
    validate_params,
)
from fakeclaude.results import ChannelEvent, CloseResult, DroppedEvent, Finding, ShutdownResult, ToolResult
from fakeclaude.sandbox import Sandbox
from fakeclaude.session import Session, start_session

__all__ = [
    "CHANNEL_METHOD",
    "DISCOVER_PROBE_ID",
    "AdapterExited",
    "ChannelEvent",
    "ChannelTimeout",
    "CloseResult",
    "DroppedEvent",
    "FakeAppServer",
    "FakeClaudeError",
    "FakeMessagingSocket",
    "Finding",
    "HandshakeError",
    "InvalidChannelParams",
    "JsonRpcError",
    "NativeWrite",
    "Recorder",
    "RequestTimeout",
    "Sandbox",
    "Session",
    "ShutdownResult",
    "ToolResult",
    "TurnInput",
    "WireRecord",
    "__version__",
    "render_channel",
    "render_params",
    "start_session",
    "validate_params",
]
