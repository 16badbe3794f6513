"""Errors the bus raises; each message is a sentence a person (or a model) can act on."""


class BusError(Exception):
    """Base class: every refusal of the bus is one of these, with a readable message."""

    code = "bus_error"


class InvalidName(BusError):
    code = "invalid_name"


class NameTaken(BusError):
    code = "name_taken"


class SelfSend(BusError):
    code = "self_send"


class BodyTooLarge(BusError):
    code = "body_too_large"


class InvalidBody(BusError):
    code = "invalid_body"


class RateLimited(BusError):
    code = "rate_limited"


class UnknownMessage(BusError):
    code = "unknown_message"


class BusUnavailable(BusError):
    """The bus file cannot be used: corrupt, locked for too long, unreadable or unsafe."""

    code = "bus_unavailable"


def locked_too_long(where: str) -> BusUnavailable:
    """The one sentence for a write that waited out the busy timeout (SQLite's lock or the write queue's)."""
    return BusUnavailable(
        f"the bus at {where} stayed locked by another process longer than the busy timeout; "
        "try again, or find the process holding it (agentbus doctor)"
    )


class WouldWait(Exception):
    """A write asked not to wait (``wait=False``) found the bus busy; nothing was written. Not a
    refusal (so not a BusError): the caller does the same write where it may wait (a worker thread)."""
