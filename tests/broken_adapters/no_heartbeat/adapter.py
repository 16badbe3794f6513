"""Broken adapter: claude-mcp that registers and then never refreshes last_seen (breaks PRES-2)."""

import sys

import anyio

from agentbus.adapters.claude_mcp.server import main
from agentbus.endpoint.upkeep import Upkeep


async def no_heartbeat(self: Upkeep) -> None:
    """The heartbeat loop forgotten: the row keeps the last_seen of its registration."""
    await anyio.sleep_forever()


Upkeep._heartbeat_loop = no_heartbeat  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main())
