"""The runtime-agnostic bus: presence, a durable mailbox and delivery tracking (no MCP here).

The names are loaded on first use (PEP 562): ``agentbus.core.bus`` imports SQLAlchemy, which a
starting adapter must not wait for before it answers (see core/busfile.py), while it still imports
the light modules of this package.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentbus.core.bus import Bus
    from agentbus.core.config import Settings
    from agentbus.core.envelope import Envelope
    from agentbus.core.errors import (
        BodyTooLarge,
        BusError,
        BusUnavailable,
        InvalidName,
        NameTaken,
        RateLimited,
        SelfSend,
        UnknownMessage,
    )
    from agentbus.core.ports import Delivery, Trigger
    from agentbus.core.records import Outgoing, Peer, Receipt, SendReceipt

_WHERE = {
    "Bus": "bus",
    "Settings": "config",
    "Envelope": "envelope",
    "BodyTooLarge": "errors",
    "BusError": "errors",
    "BusUnavailable": "errors",
    "InvalidName": "errors",
    "NameTaken": "errors",
    "RateLimited": "errors",
    "SelfSend": "errors",
    "UnknownMessage": "errors",
    "Delivery": "ports",
    "Trigger": "ports",
    "Outgoing": "records",
    "Peer": "records",
    "Receipt": "records",
    "SendReceipt": "records",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"agentbus.core.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "BodyTooLarge",
    "Bus",
    "BusError",
    "BusUnavailable",
    "Delivery",
    "Envelope",
    "InvalidName",
    "NameTaken",
    "Outgoing",
    "Peer",
    "RateLimited",
    "Receipt",
    "SelfSend",
    "SendReceipt",
    "Settings",
    "Trigger",
    "UnknownMessage",
]
