"""Broken adapter: claude-mcp whose native door reports every push as written, even when the socket refused it
(breaks DOOR-4: a message is stamped pushed that Claude Code never got)."""

import contextlib
import os
import sys

from agentbus.adapters.claude_mcp import native
from agentbus.adapters.claude_mcp.server import main
from agentbus.adapters.doors import DoorClosed
from agentbus.core.envelope import Envelope
from agentbus.core.ports import Handled

honest_deliver = native.NativeDoor.deliver


async def deliver_and_never_fail(self: native.NativeDoor, envelope: Envelope) -> Handled:
    """Fire and forget: a refused connection is taken for a write (what a sender that only submits does)."""
    with contextlib.suppress(DoorClosed):
        await honest_deliver(self, envelope)
    return Handled.SHOWN


native.NativeDoor.deliver = deliver_and_never_fail  # type: ignore[method-assign]

if __name__ == "__main__":
    os.environ["AGENTBUS_PUSH"] = "native"  # the one door its manifest names
    sys.exit(main())
