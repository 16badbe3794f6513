"""fakeclaude: the client side of Claude Code, for testing agentbus adapters against a real process.

Library (synchronous; reader threads and a Condition, no asyncio)::

    from fakeclaude import Sandbox

    with Sandbox() as bus:                        # temp AGENTBUS_HOME and HOME
        alice = bus.start_session("alice")        # adapter "claude-mcp", plain initialize opening
        bob = bus.start_session("bob", opening="discover")   # server/discover probe, then fallback
        alice.call_tool("send_message", {"to": "bob", "text": "hi"})
        event = bob.wait_for_channel(timeout=5)   # ChannelEvent(content, meta, rendered, received_at)
        print(event.rendered)                     # <channel source="agentbus" from="alice" ...>hi</channel>

``Session(adapter, name=, bus_home=, home=, env=, channels=True, opening="initialize"|"discover",
protocol_version="2025-11-25", ...)``; ``adapter`` is an ``agentbus.adapters`` entry-point name or a
module.json path. After ``start(timeout)``: ``opening_used`` ("initialize", "discover-fallback" or
"discover"), ``server_capabilities``, ``channel_capable``, ``instructions``. Calls:
``request(method, params, timeout)`` (raw response), ``request_result``, ``notify``, ``send_raw``,
``call_tool(name, arguments, timeout) -> ToolResult(is_error, text, structured, content, raw)``,
``list_tools()``. Events: ``channel_events``, ``dropped_events`` (channels=False, no capability,
before the handshake), ``wait_for_channel(predicate, timeout)``, ``assert_channel(content, within=,
**meta)`` (``from_=`` for ``from``). Diagnostics: ``recorder`` (every line both ways with
``time.monotonic()`` stamps; ``records``, ``clear()``, ``junk()``, ``dump()``), ``findings`` /
``violations`` / ``warnings``, ``stderr``, ``report()``. Ending: ``close(timeout) -> CloseResult
(exit_code, exited, seconds_to_exit, killed)``, ``kill()``.

Rendering (``fakeclaude.rendering``): ``render_channel(content, meta, source)``,
``validate_params(params)``, ``escape_attribute``, ``defuse_content``. Every ``</channel`` in content,
in any letter case, becomes ``<\\/channel``; attribute values escape ``& < > " '``; meta keys not
matching ``^[a-zA-Z_][a-zA-Z0-9_]*$`` (and a ``source`` key) are dropped from the tag.

pytest fixtures (plugin ``fakeclaude.pytest_plugin``, loaded through the ``pytest11`` entry point; it
adds no options):

- ``fakeclaude_bus``: a ``Sandbox`` under ``tmp_path``; every session it started is closed (killed
  if needed) at teardown.
- ``fakeclaude_session``: factory ``fakeclaude_session(name, adapter=None, **session_kwargs)``
  returning a started ``Session`` on ``fakeclaude_bus``.
- ``fakeclaude_adapter``: the default adapter (``"claude-mcp"``); override it in a conftest.py.

CLI: ``fakeclaude chat alice [--adapter claude-mcp] [--home DIR]`` and
``fakeclaude send --as alice bob "text"``.
"""

from fakeclaude.errors import (
    AdapterExited,
    ChannelTimeout,
    FakeClaudeError,
    HandshakeError,
    JsonRpcError,
    RequestTimeout,
)
from fakeclaude.recorder import Recorder, WireRecord
from fakeclaude.rendering import (
    CHANNEL_METHOD,
    InvalidChannelParams,
    render_channel,
    render_params,
    validate_params,
)
from fakeclaude.sandbox import Sandbox
from fakeclaude.session import (
    DISCOVER_PROBE_ID,
    ChannelEvent,
    CloseResult,
    DroppedEvent,
    Finding,
    Session,
    ToolResult,
    __version__,
    start_session,
)

__all__ = [
    "CHANNEL_METHOD",
    "DISCOVER_PROBE_ID",
    "AdapterExited",
    "ChannelEvent",
    "ChannelTimeout",
    "CloseResult",
    "DroppedEvent",
    "FakeClaudeError",
    "Finding",
    "HandshakeError",
    "InvalidChannelParams",
    "JsonRpcError",
    "Recorder",
    "RequestTimeout",
    "Sandbox",
    "Session",
    "ToolResult",
    "WireRecord",
    "__version__",
    "render_channel",
    "render_params",
    "start_session",
    "validate_params",
]
