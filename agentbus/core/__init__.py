"""The runtime-agnostic bus: presence, a durable mailbox and delivery tracking (no MCP here)."""

from agentbus.core.bus import Bus, Outgoing, Peer, Receipt, SendReceipt
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
