"""An endpoint's background upkeep: the heartbeat (and registering again after a reap), pruning, the safety poll."""

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import anyio.to_thread

from agentbus.core import mailbox

if TYPE_CHECKING:
    from agentbus.endpoint import Endpoint

log = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 600.0


class Upkeep:
    """The loops that keep an endpoint's row fresh, its bus pruned and its mailbox checked."""

    def __init__(self, endpoint: "Endpoint") -> None:
        self.endpoint = endpoint
        self.settings = endpoint.settings
        #: Run (in a worker thread) at every safety poll: e.g. a receipts follower reading what it missed.
        self.poll_hooks: list[Callable[[], None]] = []

    def start(self, tasks: anyio.abc.TaskGroup) -> None:
        tasks.start_soon(self._heartbeat_loop)
        if self.settings.safety_poll_seconds > 0:
            tasks.start_soon(self._safety_poll_loop)

    async def _heartbeat_loop(self) -> None:
        endpoint = self.endpoint
        since_prune = PRUNE_EVERY_SECONDS
        while True:
            if since_prune >= PRUNE_EVERY_SECONDS:
                since_prune = 0.0
                await endpoint._quietly(mailbox.prune(self.settings.delivered_ttl_seconds), "prune")
            await anyio.sleep(self.settings.heartbeat_seconds)
            since_prune += self.settings.heartbeat_seconds
            if await endpoint.announce() is False:
                log.warning("registration of %s was reaped; registering again", endpoint.name)
                await endpoint.reregister()

    async def _safety_poll_loop(self) -> None:
        while True:
            await anyio.sleep(self.settings.safety_poll_seconds)
            for hook in self.poll_hooks:
                await anyio.to_thread.run_sync(hook)
            self.endpoint.safety_wake()
