"""Peer names: the validation rule and the sanitiser used for AGENTBUS_NAME."""

import re
import secrets

from agentbus.core.errors import InvalidName

NAME_PATTERN = re.compile(r"[a-z0-9_-]{1,32}")
BROADCAST = "*"


def validate_name(name: object, *, what: str = "name") -> str:
    """Return ``name`` if it is a valid peer name, else raise InvalidName explaining the rule."""
    if not isinstance(name, str):
        raise InvalidName(f"{what} must be a string, got {type(name).__name__}")
    if not NAME_PATTERN.fullmatch(name):
        shown = name if len(name) <= 40 else name[:40] + "..."
        raise InvalidName(f"invalid {what} {shown!r}: use 1-32 characters from a-z, 0-9, '_' and '-'")
    return name


def sanitize_name(raw: str | None) -> str:
    """Turn free text (e.g. AGENTBUS_NAME) into a valid name; empty input gets ``agent-xxxx``."""
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", (raw or "").strip().lower()).strip("-")[:32].strip("-")
    return cleaned or generated_name()


def generated_name() -> str:
    return f"agent-{secrets.token_hex(2)}"


def suffixed(name: str, n: int) -> str:
    """``name`` with ``-n`` appended, shortened so the result is still at most 32 characters."""
    tail = f"-{n}"
    return name[: 32 - len(tail)] + tail
