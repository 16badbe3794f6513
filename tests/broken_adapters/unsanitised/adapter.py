"""Broken adapter: claude-mcp that names a session `agent` when AGENTBUS_NAME sanitises to nothing,
instead of a generated `agent-xxxx` (breaks NAME-2)."""

import re
import sys

from agentbus.adapters.claude_mcp import startup
from agentbus.adapters.claude_mcp.server import main
from agentbus.core.names import sanitize_name as honest_sanitize


def without_the_hex(raw: str | None) -> str:
    name = honest_sanitize(raw)
    return "agent" if re.fullmatch(r"agent-[0-9a-f]{4}", name) and name != (raw or "") else name


startup.sanitize_name = without_the_hex  # type: ignore[attr-defined]

if __name__ == "__main__":
    sys.exit(main())
