"""Broken adapter: claude-mcp that stamps a batch delivered before it pushes it (breaks DELIV-3, DELIV-5)."""

import sys

from agentbus.adapters.claude_mcp.server import main
from agentbus.core import mailbox
from agentbus.endpoint import Endpoint


async def drain_marking_first(self: Endpoint, **_wake: object) -> int:
    """The at-most-once bug of several similar tools: mark delivered, then push."""
    delivery = self._delivery
    if delivery is None:
        return 0
    pushed = 0
    async with self._drain_lock:
        while True:
            batch = await self._claim(look_first=True)
            if not batch:
                return pushed
            await self.writer.submit(mailbox.mark_delivered(e.id for e in batch))
            for envelope in batch:
                await delivery.deliver(envelope)
                pushed += 1


Endpoint.drain = drain_marking_first  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main())
