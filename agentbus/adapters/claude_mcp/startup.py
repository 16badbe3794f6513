"""Joining the bus at launch: settings, trigger, the bus file and this session's name (no MCP SDK here).

This runs before the client's ``initialize`` is answered, so the peer is registered by the time the
client sees the server (SPEC PRES-1); the MCP SDK is imported later, if at all (sdk_bridge.py).
"""

import logging
import os
import re
from dataclasses import dataclass

from agentbus.adapters.claude_mcp import ADAPTER_ID
from agentbus.core.bus import Bus, Peer
from agentbus.core.config import Settings
from agentbus.core.errors import BusError
from agentbus.core.names import sanitize_name
from agentbus.endpoint import Endpoint
from agentbus.triggers import make_trigger

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The adapter cannot join the bus; the message is one sentence for stderr."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Identity:
    """How this session got its name, for whoami: ``asked_for`` changes with set_name."""

    raw: str | None
    asked_for: str
    generated: bool
    renamed: bool = False


def identity_from_env(raw: str | None) -> Identity:
    """AGENTBUS_NAME, sanitised; a missing or unusable one gets a generated ``agent-xxxx``."""
    return Identity(
        raw=raw,
        asked_for=sanitize_name(raw),
        generated=re.search(r"[a-z0-9_]", (raw or "").lower()) is None,
    )


@dataclass
class Joined:
    """A registered session: the open bus and the endpoint that will run it."""

    settings: Settings
    identity: Identity
    bus: Bus
    endpoint: Endpoint
    peer: Peer

    def leave(self) -> None:
        """Unregister (if still registered) and close the bus; safe to call twice."""
        try:
            name = self.endpoint.name  # the current name once the endpoint ran (it may have been renamed)
        except BusError:
            name = self.peer.name
        try:
            self.bus.unregister(name, self.endpoint.session_id)
        except BusError as exc:
            log.warning("could not unregister %s: %s", name, exc)
        self.bus.close()


def join_bus() -> Joined:
    """Open the bus and register this session under its name (``name-2``... if a live peer holds it)."""
    try:
        settings = Settings.from_env()
        trigger = make_trigger(settings)
    except ValueError as exc:
        raise StartupError(f"bad configuration: {exc}", 2) from None
    identity = identity_from_env(os.environ.get("AGENTBUS_NAME"))
    try:
        bus = Bus(settings)
    except BusError as exc:
        raise StartupError(str(exc), 1) from None
    endpoint = Endpoint(bus, identity.asked_for, adapter=ADAPTER_ID, trigger=trigger)
    try:
        peer = bus.register_unique(identity.asked_for, session_id=endpoint.session_id, adapter=ADAPTER_ID)
    except BusError as exc:
        bus.close()
        raise StartupError(str(exc), 1) from None
    if peer.name != identity.asked_for:
        log.warning("name %r is held by a live session; registered as %r", identity.asked_for, peer.name)
    # Endpoint.running() registers again with the same session id: make it keep this name.
    endpoint.requested_name = peer.name
    return Joined(settings, identity, bus, endpoint, peer)
