"""Broken adapter: claude-mcp without its safety poll, whatever AGENTBUS_SAFETY_POLL_SECONDS says (breaks DELIV-10)."""

import sys

import anyio

from agentbus.adapters.claude_mcp.server import main
from agentbus.endpoint.upkeep import Upkeep


async def no_safety_poll(self: Upkeep) -> None:
    """The safety poll forgotten: mail no trigger announced waits for the next wake."""
    await anyio.sleep_forever()


Upkeep._safety_poll_loop = no_safety_poll  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main())
