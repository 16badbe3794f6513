"""Process entry of the claude-mcp adapter: logging, the stdio claim, the opening, then the session.

Only the standard library and the light opening modules are imported at module level; the bus
(startup.py) is imported to join it. The serving loop (app.py: asyncio, the endpoint, SQLAlchemy;
~200 ms of imports) is imported after Claude Code has its ``initialize`` answer: Claude Code waits
for that answer as it starts, and its pushes wait for their own doors (the native door is written
as soon as the loop runs; the channel waits for the tools/list answer). Any other client gets its
answer once the loop is imported, so a client that then says initialized is served at once (its
waiting mail within milliseconds, SPEC MCP-8) instead of ~200 ms later.
"""

import importlib
import logging
import os
import signal
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentbus.adapters import doors
from agentbus.adapters.claude_mcp import ADAPTER_ID, permission
from agentbus.adapters.claude_mcp.opening import answer_opening, claim_stdio, stderr_line
from agentbus.adapters.claude_mcp.protocol import build_router
from agentbus.adapters.runtime import Runtime

if TYPE_CHECKING:
    from agentbus.adapters.claude_mcp.app import ClientSession
    from agentbus.adapters.claude_mcp.transport import LineWriter

LOG_FORMAT = "agentbus[{adapter}] %(levelname)s %(name)s: %(message)s"
GIL_SWITCH_SECONDS = 0.001


def configure_logging(name: str, adapter: str = "claude-mcp") -> None:
    """Log to stderr (stdout is the protocol) at ``name`` (Settings.log_level, AGENTBUS_LOG_LEVEL)."""
    level = logging.getLevelName(name)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT.format(adapter=adapter)))
    root = logging.getLogger()
    root.addHandler(handler)
    if isinstance(level, int):
        root.setLevel(level)
    else:
        root.setLevel(logging.WARNING)
        root.warning("AGENTBUS_LOG_LEVEL=%r is not a logging level; using WARNING", name)


async def _open_claude_doors(session: "ClientSession", writer: "LineWriter") -> None:
    await session.open_claude_doors(writer)


#: Claude Code: the native door, then the channel, else pull (adapters/doors.py).
CLAUDE_CODE = Runtime(ADAPTER_ID, lambda settings: doors.claude_plan(settings.push, os.environ), _open_claude_doors)


class _Stop(BaseException):
    """SIGTERM or SIGHUP before the event loop handles signals: unwind so the session unregisters."""


def _raise_stop(signum: int, _frame: object) -> None:
    raise _Stop(signum)


#: The module of the serving loop, and the client that gets its ``initialize`` answer before it is imported.
SERVING_LOOP = "agentbus.adapters.claude_mcp.app"
CLAUDE_CODE_CLIENT = "claude-code"


def _ready_unless_claude_code(params: Mapping[str, Any] | None) -> None:
    """Before the ``initialize`` answer: import the serving loop now, unless the client is Claude Code."""
    info = (params or {}).get("clientInfo")
    if not (isinstance(info, Mapping) and info.get("name") == CLAUDE_CODE_CLIENT):
        importlib.import_module(SERVING_LOOP)


def main(runtime: Runtime = CLAUDE_CODE) -> int:
    """Serve one MCP client on stdin/stdout until it goes away or the process is told to stop.

    Order: claim stdio, read the settings (logging follows them), join the bus (so the peer is
    registered before the client hears anything), answer the opening, then serve. Returns the exit code.
    ``runtime``: another runtime's id and doors on the same server (adapters/codex).
    """
    fds = claim_stdio()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_stop)
    try:
        from agentbus.adapters.claude_mcp.startup import StartupError, join_bus, read_settings

        try:
            settings = read_settings()
            configure_logging(settings.log_level, runtime.adapter)
            joined = join_bus(settings, runtime.adapter)
        except StartupError as exc:
            stderr_line(str(exc))
            return exc.exit_code
        try:
            own_name = joined.registration.peer.name if joined.registration.peer is not None else None
            approver = permission.relay_approver(settings.approver, own_name)
            router = build_router(permission_relay=approver is not None)
            try:
                opening = answer_opening(fds, router, before_initialize=_ready_unless_claude_code)
            except OSError as exc:
                stderr_line(f"cannot talk to the MCP client over stdio: {exc}")
                return 1
            if opening.eof and not opening.unread:
                return 0
            from agentbus.adapters.claude_mcp.app import run

            # A write waiting for the bus's write lock runs in the writer's thread (core/writer.py),
            # which then holds that lock until it also has the GIL: the loop thread hands the GIL
            # over after this interval (Python's default is 5 ms), and every other writer waits for it.
            sys.setswitchinterval(GIL_SWITCH_SECONDS)
            return run(fds, opening, joined, router, runtime, approver)
        finally:
            joined.leave()
    except (_Stop, KeyboardInterrupt):
        return 0
