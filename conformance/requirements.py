"""What the adapter under test claims: one property per optional feature, open or closed with a reason.

Modelled on SQLAlchemy's ``SuiteRequirements``: a test declares what it needs with
``@requires("read_messages")`` (``conformance.marks``); the plugin looks the name up here at setup and
skips the test with the reason when the requirement is closed. A claimed capability is open, so its
test runs and fails if the adapter does not honour the claim (SPEC MAN-3). A rule about one door
(SPEC section 8, "Doors") needs the requirement ``DOOR_REQUIREMENTS`` names for it; for an adapter
whose manifest does not list that door its tests are *not applicable*, with the sentence that says why.
"""

import sys
from dataclasses import dataclass
from pathlib import Path

from agentbus.manifest import Manifest
from conformance.databases import Backend

#: How a skip reason starts when a check does not apply to the adapter (counted as "n/a", not "skipped").
NOT_APPLICABLE = "not applicable"


@dataclass(frozen=True)
class Requirement:
    """Whether a requirement is met (``enabled``) and, when it is not, why (the skip reason)."""

    enabled: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.enabled


#: The requirement a rule limited to a door (``door `name``` in SPEC.md) needs.
DOOR_REQUIREMENTS = {
    "native": "native_door",
    "channel": "channel_door",
    "app-server": "app_server_door",
    "hook": "hook_door",
}
#: What each door is, for the sentence of a check that does not apply.
DOOR_WORDS = {
    "native": "Claude Code's messaging socket",
    "channel": "Claude Code's channel notifications on the MCP stdio wire",
    "app-server": "user input through Codex's app-server",
    "hook": "the hook command Gemini CLI runs at a session's boundaries",
}
#: Doors that hand a session its mail at the client's boundaries, not on a wake (SPEC section 8c).
BOUNDARY_DOORS = frozenset({"hook"})


def open_() -> Requirement:
    """A requirement that is met."""
    return Requirement(True)


def closed(reason: str) -> Requirement:
    """A requirement that is not met; tests that need it skip with ``reason``."""
    return Requirement(False, reason)


class Requirements:
    """The requirements of the suite, answered from the adapter's manifest and the platform.

    Add one property per requirement, each with a one-line docstring; a test names the property in
    ``@requires(...)``. Capabilities are answered from the manifest only: an adapter in any language
    states what it claims in its module.json, and the kit holds it to that claim.
    """

    def __init__(self, manifest: Manifest, backend: Backend | None = None, tier: str = "bus") -> None:
        self.manifest = manifest
        self.backend = backend or Backend()
        self.tier = tier

    def _capability(self, name: str) -> Requirement:
        if name in self.manifest.capabilities:
            return open_()
        return closed(f"adapter {self.manifest.id!r} does not claim capability {name!r} in {self.manifest.path.name}")

    def check(self, name: str) -> Requirement:
        """The requirement called ``name``; an unknown name is a bug in the suite (AttributeError)."""
        value = getattr(self, name)
        if not isinstance(value, Requirement):
            raise AttributeError(f"{type(self).__name__}.{name} is not a requirement")
        return value

    @property
    def read_messages(self) -> Requirement:
        """The adapter offers the pull tool ``read_messages`` (capability, DELIV-11)."""
        return self._capability("read_messages")

    @property
    def reply_to(self) -> Requirement:
        """``send_message`` accepts ``reply_to`` and pushes it as ``meta.reply_to`` (capability, DELIV-12)."""
        return self._capability("reply_to")

    @property
    def receipts(self) -> Requirement:
        """The adapter proves what its client received and its model saw (capability, RCPT-2 to RCPT-5)."""
        return self._capability("receipts")

    @property
    def permission_relay(self) -> Requirement:
        """The adapter relays its client's permission prompts to AGENTBUS_APPROVER (capability, PERM-1 to PERM-4)."""
        return self._capability("permission_relay")

    def _door(self, door: str) -> Requirement:
        if door in self.manifest.doors:
            return open_()
        return closed(
            f"{NOT_APPLICABLE} to doors {', '.join(self.manifest.doors)}: this check is about {DOOR_WORDS[door]} "
            f"(door '{door}', SPEC section 8)"
        )

    @property
    def native_door(self) -> Requirement:
        """The adapter writes into Claude Code's messaging socket (manifest door ``native``)."""
        return self._door("native")

    @property
    def channel_door(self) -> Requirement:
        """The adapter pushes Claude Code channel notifications on stdio (manifest door ``channel``)."""
        return self._door("channel")

    @property
    def app_server_door(self) -> Requirement:
        """The adapter pushes user input through Codex's app-server (manifest door ``app-server``)."""
        return self._door("app-server")

    @property
    def hook_door(self) -> Requirement:
        """The adapter hands its mail to Gemini CLI's hooks at the session's boundaries (manifest door ``hook``)."""
        return self._door("hook")

    @property
    def pushes_on_wake(self) -> Requirement:
        """A wake or the safety poll decides when a push comes: a door other than a boundary door (SPEC 8c)."""
        if any(door not in BOUNDARY_DOORS for door in self.manifest.doors):
            return open_()
        return closed(
            f"{NOT_APPLICABLE} to the boundary door {', '.join(self.manifest.doors)}: the adapter looks at the "
            "mailbox at every boundary of its session, and no wake or poll decides when (SPEC section 8c)"
        )

    @property
    def shared_bus(self) -> Requirement:
        """The run certifies the bus tier: the adapter shares the bus of SPEC section 11 (tests read it)."""
        if self.tier == "bus":
            return open_()
        return closed("not applicable on the wire tier: this check reads the shared bus (SPEC section 11)")

    @property
    def file_watch_trigger(self) -> Requirement:
        """The adapter's trigger is the file-watch trigger with wake files (TRIG-1)."""
        if self.manifest.trigger == "file-watch":
            return open_()
        return closed(f"adapter {self.manifest.id!r} uses trigger {self.manifest.trigger!r}, not 'file-watch'")

    @property
    def linux_proc(self) -> Requirement:
        """The platform has Linux's /proc (process groups, file descriptors, socket tables, pipe sizes)."""
        if sys.platform.startswith("linux") and Path("/proc/self/fd").is_dir():
            return open_()
        return closed("needs Linux /proc to inspect the adapter process")

    @property
    def sqlite_bus(self) -> Requirement:
        """The bus under test is the SQLite file ``AGENTBUS_HOME/bus.db`` (file modes, WAL, bus.lock, corruption)."""
        if not self.backend.is_postgres:
            return open_()
        return closed("SQLite bus file only; this run's bus is a PostgreSQL database (--agentbus-db-url)")

    @property
    def postgres_bus(self) -> Requirement:
        """The bus under test is a PostgreSQL database (``--agentbus-db-url``)."""
        if self.backend.is_postgres:
            return open_()
        return closed("PostgreSQL bus only; run the kit with --agentbus-db-url (or AGENTBUS_DB_URL) to test it")
