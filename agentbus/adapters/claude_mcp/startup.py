"""Joining the bus at launch: settings, trigger, the bus file and this session's name (no MCP SDK here).

This runs before the client's ``initialize`` is answered, so the peer is registered by the time the
client sees the server (SPEC PRES-1); the MCP SDK is imported later, if at all (sdk_bridge.py). On a
SQLite bus at the schema head it imports only the standard library and the core's light modules: the
peer is registered on the driver connection (core/busfile.py, the path every SQLite registration
takes). SQLAlchemy (the rest of the bus), the endpoint (anyio, asyncio) and the file watcher
(watchdog) are imported once the client has its answer. A PostgreSQL bus registers the same way on a
psycopg connection (core/pgdriver.py). A bus to migrate loads SQLAlchemy here.
"""

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agentbus.adapters.claude_mcp import ADAPTER_ID
from agentbus.core.busfile import BusFile
from agentbus.core.config import Settings
from agentbus.core.driver import Driver, open_driver
from agentbus.core.errors import BusError
from agentbus.core.liveness import new_session_id
from agentbus.core.names import sanitize_name
from agentbus.core.pgdriver import PgDriver
from agentbus.core.ports import Trigger
from agentbus.core.registration import Registration
from agentbus.core.writer import EXIT_DEADLINE_SECONDS
from agentbus.triggers import make_trigger

if TYPE_CHECKING:
    from agentbus.core.bus import Bus
    from agentbus.endpoint import Endpoint


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
    """A registered session: the open bus, its registration, and (once built) the endpoint that runs it.

    The registration is joined here and left here (``leave``); the endpoint only renames it or joins it
    again after a reap. ``opened`` is what the session joined through: a SQLite ``BusFile``, a PostgreSQL
    ``PgDriver``; ``bus`` builds the whole bus on it when first used.
    """

    settings: Settings
    identity: Identity
    opened: "Driver | Bus"
    trigger: Trigger
    registration: Registration
    adapter: str = ADAPTER_ID
    _endpoint: "Endpoint | None" = field(default=None, repr=False)

    @property
    def bus(self) -> "Bus":
        """The whole bus (imports SQLAlchemy on first use, after the opening)."""
        if isinstance(self.opened, BusFile | PgDriver):
            from agentbus.core.bus import Bus

            self.opened = Bus(self.settings, driver=self.opened)
        return self.opened

    @property
    def endpoint(self) -> "Endpoint":
        """The endpoint for this registration (imports anyio on first use: after the opening)."""
        if self._endpoint is None:
            from agentbus.endpoint import Endpoint

            self._endpoint = Endpoint(
                self.bus,
                self.identity.asked_for,
                adapter=self.adapter,
                trigger=self.trigger,
                registration=self.registration,
            )
        return self._endpoint

    def leave(self) -> None:
        """Unregister under the current name (if still registered) and close the bus; safe to call twice.
        At exit: the write lock is waited for no longer than EXIT_DEADLINE_SECONDS (SPEC LIFE-1)."""
        self.registration.leave(deadline=EXIT_DEADLINE_SECONDS)
        self.opened.close()


def read_settings() -> Settings:
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise StartupError(f"bad configuration: {exc}", 2) from None


def join_bus(settings: Settings, adapter: str = ADAPTER_ID) -> Joined:
    """Open the bus and register this session under its name (``name-2``... if a live peer holds it);
    ``adapter`` is the id the peer row names (the codex adapter runs this same server)."""
    try:
        trigger = make_trigger(settings)
    except ValueError as exc:
        raise StartupError(f"bad configuration: {exc}", 2) from None
    identity = identity_from_env(settings.name)
    try:
        opened = open_driver(settings)
    except BusError as exc:
        raise StartupError(str(exc), 1) from None
    registration = Registration(opened, session_id=new_session_id(), adapter=adapter)
    try:
        registration.join(identity.asked_for)
    except BusError as exc:
        opened.close()
        raise StartupError(str(exc), 1) from None
    return Joined(settings, identity, opened, trigger, registration, adapter)
