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


def describe_db_error(message: str, where: str, *, operational: bool) -> BusUnavailable:
    """Turn a driver's error message into a sentence naming the bus and what to do about it."""
    lowered = message.lower()
    if operational and ("locked" in lowered or "lock timeout" in lowered):
        return locked_too_long(where)
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return BusUnavailable(
            f"the bus file {where} is corrupt or not an agentbus database ({message}); "
            "move it aside and a fresh bus is created on next start (agentbus doctor shows details)"
        )
    if "timeout expired" in lowered or "connection refused" in lowered or "could not translate host" in lowered:
        return BusUnavailable(
            f"cannot reach the bus database at {where} ({message.strip()}); is the server running and "
            "reachable? (agentbus doctor checks the connection)"
        )
    if "readonly" in lowered or "read-only" in lowered or "unable to open" in lowered:
        return BusUnavailable(f"cannot write the bus at {where} ({message}); check its permissions")
    return BusUnavailable(f"bus error at {where}: {message}")
