"""Process entry of the claude-mcp adapter: logging, the stdio claim, the fast opening, then the server.

Only the standard library and the light opening module are imported here; the MCP SDK, SQLAlchemy
and the endpoint are imported by app.py once the client has its ``initialize`` answer.
"""

import logging
import os
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


def main() -> int:
    """Serve one MCP client on stdin/stdout until it goes away or the process is told to stop."""
    configure_logging(os.environ.get("AGENTBUS_LOG_LEVEL"))
    fds = claim_stdio()
    try:
        opening = answer_opening(fds)
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        stderr_line(f"cannot talk to the MCP client over stdio: {exc}")
        return 1
    if opening.eof:
        return 0
    from agentbus.adapters.claude_mcp.app import run

    return run(fds, opening)
