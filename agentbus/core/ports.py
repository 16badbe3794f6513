"""The two ports every adapter implements: Trigger (how a recipient is woken) and Delivery."""

from collections.abc import Callable
from enum import Enum
from typing import Protocol, runtime_checkable

from agentbus.core.envelope import Envelope

Disposer = Callable[[], None]


@runtime_checkable
class Trigger(Protocol):
    """PULL side: wakes a recipient's drainer when mail may be waiting."""

    name: str

    def arm(self, self_name: str, on_wake: Callable[[], None]) -> Disposer:
        """Call ``on_wake`` (from any thread) whenever ``self_name`` may have mail; return a disposer."""
        ...

    def notify(self, recipient: str) -> None:
        """Tell ``recipient`` (possibly in another process) that it may have mail. Never raises."""
        ...

    def close(self) -> None:
        """Release what ``notify`` holds open (a connection); the endpoint calls it once, after disarming."""
        ...


class Handled(Enum):
    """What a Delivery did with an envelope (``deliver`` returning None means SHOWN)."""

    #: Handed to the client to show its model; with receipts, a sighting confirms it later.
    SHOWN = "shown"
    #: Acted on by the adapter itself and never shown to the model (a permission verdict relayed to the
    #: client, say): nothing will sight it, so it is delivered as soon as the write resolved.
    CONSUMED = "consumed"


@runtime_checkable
class Delivery(Protocol):
    """PUSH side: hands one envelope to a live session. Returning means the write resolved."""

    async def deliver(self, envelope: Envelope) -> Handled | None: ...
