"""Process entry of the claude-mcp adapter: logging, the stdio claim, the fast opening, then the server.

Only the standard library and the light opening module are imported at module level; the bus
(startup.py) is imported to join it, and the serving loop (app.py) once the client has its
``initialize`` answer; the MCP SDK only if the client sends something local.py does not answer.
"""

import logging
import os
import signal
import sys

from agentbus.adapters.claude_mcp.opening import answer_opening, claim_stdio, stderr_line

LOG_FORMAT = "agentbus[claude-mcp] %(levelname)s %(name)s: %(message)s"


def configure_logging(raw_level: str | None) -> None:
    """Log to stderr (stdout is the protocol) at AGENTBUS_LOG_LEVEL, default WARNING."""
    name = (raw_level or "WARNING").strip().upper()
    level = logging.getLevelName(name)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    if isinstance(level, int):
        root.setLevel(level)
    else:
        root.setLevel(logging.WARNING)
        root.warning("AGENTBUS_LOG_LEVEL=%r is not a logging level; using WARNING", raw_level)


class _Stop(BaseException):
    """SIGTERM or SIGHUP before the event loop handles signals: unwind so the session unregisters."""


def _raise_stop(signum: int, _frame: object) -> None:
    raise _Stop(signum)


def main() -> int:
    """Serve one MCP client on stdin/stdout until it goes away or the process is told to stop.

    Order: join the bus (so the peer is registered before the client hears anything), answer the
    opening without the SDK, then serve. Returns the exit code.
    """
    configure_logging(os.environ.get("AGENTBUS_LOG_LEVEL"))
    fds = claim_stdio()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_stop)
    try:
        from agentbus.adapters.claude_mcp.startup import StartupError, join_bus

        try:
            joined = join_bus()
        except StartupError as exc:
            stderr_line(str(exc))
            return exc.exit_code
        try:
            try:
                opening = answer_opening(fds)
            except OSError as exc:
                stderr_line(f"cannot talk to the MCP client over stdio: {exc}")
                return 1
            if opening.eof:
                return 0
            from agentbus.adapters.claude_mcp.app import run

            return run(fds, opening, joined)
        finally:
            joined.leave()
    except (_Stop, KeyboardInterrupt):
        return 0
