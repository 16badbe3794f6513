"""Broken adapter: claude-mcp that forgets a wake arriving during a drain (breaks DELIV-9, a SHOULD rule)."""

import sys

import anyio

from agentbus.adapters.claude_mcp.server import main
from agentbus.core import mailbox
from agentbus.endpoint import Endpoint


async def drain_once(self: Endpoint) -> int:
    """One claim per pass: what arrives after the claim waits for the next wake."""
    delivery = self._delivery
    if delivery is None:
        return 0
    async with self._drain_lock:
        batch = await self._claim(look_first=True)
        for envelope in batch:
            await delivery.deliver(envelope)
            await self.writer.submit(mailbox.mark_delivered([envelope.id]))
        return len(batch)


async def drain_loop_clearing_late(self: Endpoint) -> None:
    """The lost-wakeup bug: the wake flag is cleared after the drain, not before it."""
    while True:
        await self._wake_event.wait()
        if self._delivery is not None:
            if not self._announced_push:
                self._announced_push = True
                await self.announce()
            await self.drain()
        self._wake_event = anyio.Event()


Endpoint.drain = drain_once  # type: ignore[method-assign]
Endpoint._drain_loop = drain_loop_clearing_late  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main())
