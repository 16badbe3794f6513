"""One test's private bus: a temp AGENTBUS_HOME and HOME, adapter sessions on it, and its bus file."""

import contextlib
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agentbus.manifest import Manifest
from conformance.busfile import BusDatabase, BusFile, BusReader
from conformance.databases import Backend
from conformance.procs import group_pids
from conformance.rawclient import RawClient
from conformance.tiers import BusGate, GatedReader
from fakeclaude import Sandbox, Session, profiles
from fakeclaude.profiles import Profile
from fakeclaude.waiting import wait_until

#: Start-up deadline for one adapter (spawn to initialize result); generous for a loaded machine.
START_TIMEOUT = 8.0
#: How long a well-behaved adapter gets to exit after stdin EOF at teardown before it is killed.
CLOSE_TIMEOUT = 1.5


class Harness:
    """Sessions of the adapter under test on one throwaway bus.

    ``start("alice")`` launches the adapter from its manifest's command (a fakeclaude session speaking
    as ``client``, the recorded client profile: its opening unless ``opening=`` says otherwise);
    ``raw("bob")`` launches it under the hand-driven ``RawClient``; ``db`` is the bus (``BusFile``
    for ``AGENTBUS_HOME/bus.db``, or ``BusDatabase`` when the run's backend is PostgreSQL: then the
    harness creates a database for the test, every session gets ``AGENTBUS_DB_URL`` pointing at it,
    and ``close`` drops it). ``env`` is added to every session's environment (AGENTBUS_HOME and HOME
    point into the test's temp directory; the test process's own AGENTBUS_* variables are never
    passed on). ``door``: the door the test's rule is about; its sessions offer that door (a test of
    the ``channel`` door runs Claude Code sessions without the messaging socket, so an adapter that
    prefers the native door still pushes channel events).
    """

    def __init__(
        self,
        manifest: Manifest,
        root: Path,
        env: Mapping[str, str] | None = None,
        backend: Backend | None = None,
        client: Profile | None = None,
        gate: BusGate | None = None,
        door: str | None = None,
    ) -> None:
        self.manifest = manifest
        self.door = door
        self.root = root
        self.backend = backend or Backend()
        self.client = client or profiles.load()
        self.sandbox = Sandbox(root, adapter=manifest, close_timeout=CLOSE_TIMEOUT, client=self.client.id)
        self.bus_home = self.sandbox.bus_home
        self.home = self.sandbox.home
        self.env: dict[str, str] = dict(env or {})
        self.raw_clients: list[RawClient] = []
        self._count = 0
        self._readers: list[BusReader] = []
        self._databases: list[str] = []
        self.db_url: str | None = None
        self.gate = gate or BusGate("bus", None)
        if self.backend.is_postgres:
            self.db_url = self._new_database()
            self.env["AGENTBUS_DB_URL"] = self.db_url
            self._db: BusReader = self._reader(BusDatabase(self.db_url))
        else:
            self._db = BusFile(self.bus_home / "bus.db")

    @property
    def db(self) -> BusReader:
        """The bus under test, read directly: only where a rule is about the bus (the gate may skip
        the test as not applicable: wire tier, or a bus without the shared schema)."""
        self.gate.check(self._db)
        return self._db

    @property
    def bus_readable(self) -> bool:
        """True when the bus can be read besides the behaviour (bus tier, shared schema), see BusGate.readable."""
        return self.gate.readable(self._db)

    @property
    def on_postgres(self) -> bool:
        """True when the bus under test is a PostgreSQL database rather than the SQLite file."""
        return self.backend.is_postgres

    def _new_database(self) -> str:
        url = self.backend.create_database()
        self._databases.append(url)
        return url

    def _reader(self, reader: BusReader) -> BusReader:
        self._readers.append(reader)
        return reader

    def fresh_bus(self, label: str) -> tuple[dict[str, str], BusReader]:
        """Another bus nobody has opened yet: the session env that selects it, and its reader.

        SQLite: ``AGENTBUS_HOME`` set to a new directory ``<root>/<label>``. PostgreSQL: a new database
        (dropped at ``close``) in ``AGENTBUS_DB_URL``.
        """
        if self.backend.is_postgres:
            url = self._new_database()
            return {"AGENTBUS_DB_URL": url}, GatedReader(self._reader(BusDatabase(url)), self.gate)
        home = self.root / label
        return {"AGENTBUS_HOME": str(home)}, GatedReader(BusFile(home / "bus.db"), self.gate)

    def session_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The AGENTBUS_* (and other) variables a session gets on top of HOME and AGENTBUS_HOME."""
        return {**self.env, **(extra or {})}

    def session(self, name: str | None, *, env: Mapping[str, str] | None = None, **kwargs: Any) -> Session:
        """A fakeclaude Session on this bus, not started (without the native door in a test of another door)."""
        if self.door is not None and self.door != "native":
            kwargs.setdefault("native", False)
        return self.sandbox.session(name, env=self.session_env(env), cwd=self.home, **kwargs)

    def start(self, name: str | None, *, env: Mapping[str, str] | None = None, **kwargs: Any) -> Session:
        """Start a session named ``name`` (AGENTBUS_NAME); fakeclaude Session kwargs pass through."""
        return self.session(name, env=env, **kwargs).start(START_TIMEOUT)

    def start_many(
        self, names: Sequence[str], *, env: Mapping[str, str] | None = None, fresh_race: bool = False
    ) -> list[Session]:
        """Start several sessions at once (in threads), in the order of ``names``.

        On a bus that does not exist yet the first session starts alone (it creates the bus), so a
        test of one rule does not fail on the fresh-bus race, which SCHEMA-2 tests on its own
        (``fresh_race=True`` starts them all at once regardless).
        """
        sessions = [self.session(name, env=env) for name in names]
        if sessions and not fresh_race and not self._db.exists():
            sessions[0].start(START_TIMEOUT)
            started, sessions = sessions[:1], sessions[1:]
        else:
            started = []
        errors: list[BaseException] = []

        def run(session: Session) -> None:
            try:
                session.start(START_TIMEOUT)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(s,)) for s in sessions]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return started + sessions

    def raw(
        self,
        name: str | None,
        *,
        env: Mapping[str, str] | None = None,
        pipe_size: int | None = 4096,
        start: bool = True,
        as_claude: bool = True,
        list_tools: bool = True,
    ) -> RawClient:
        """The adapter under the hand-driven RawClient (stdout pipe shrunk to ``pipe_size`` bytes)."""
        self._count += 1
        full = {k: v for k, v in os.environ.items() if not k.startswith("AGENTBUS_")}
        full.update({"AGENTBUS_HOME": str(self.bus_home), "HOME": str(self.home)})
        if name is not None:
            full["AGENTBUS_NAME"] = name
        full.update(self.session_env(env))
        client = RawClient(
            self.manifest,
            full,
            profile=self.client,
            stderr_path=self.root / f"raw-{self._count}-{name}.stderr",
            cwd=self.home,
            pipe_size=pipe_size,
            as_claude=as_claude,
        )
        self.raw_clients.append(client)
        return client.start(START_TIMEOUT, list_tools=list_tools) if start else client

    def peer_row(self, session: Session | RawClient, timeout: float = 3.0) -> Any:
        """The ``peers`` row of a running session: the row whose pid is in the adapter's process group."""
        leader = session.pid
        assert leader is not None

        def find() -> Any:
            pids = set(group_pids(leader)) | {leader}
            if not self.db.exists():
                return None
            return next((row for row in self.db.peers() if row["pid"] in pids), None)

        return wait_until(find, timeout, f"a peers row for the adapter process group {leader}")

    def close(self) -> None:
        """End every session and raw client at once (stdin EOF, then SIGKILL after CLOSE_TIMEOUT)."""
        enders = [lambda c=client: c.close(CLOSE_TIMEOUT) for client in self.raw_clients]
        enders += [lambda s=session: s.close(CLOSE_TIMEOUT) for session in self.sandbox.sessions]
        threads = [threading.Thread(target=_quietly, args=(end,)) for end in enders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.sandbox.close_all()
        for reader in self._readers:
            _quietly(reader.close)
        databases, self._databases = self._databases, []
        failed: list[BaseException] = []
        for url in databases:
            try:
                self.backend.drop_database(url)
            except Exception as exc:  # drop the others, then report the first failure
                failed.append(exc)
        if failed:
            raise failed[0]


def _quietly(func: Any) -> None:
    with contextlib.suppress(Exception):
        func()
