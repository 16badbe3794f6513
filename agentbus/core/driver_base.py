"""What both driver-level buses (busfile.py, pgdriver.py) share: the schema revision, names, the writer."""

from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentbus.core.config import Settings
from agentbus.core.presence import LEAVE, arriving, first_free, take_name
from agentbus.core.records import Peer
from agentbus.core.tx import Tx
from agentbus.core.writer import Writer

if TYPE_CHECKING:
    from sqlalchemy import Engine


class DriverBus:
    """A bus opened on its driver connection. A subclass opens that connection, then calls
    ``_reach_head``; it reads the revision, registers and unregisters in its own driver's way."""

    settings: Settings
    where: str
    schema_revision: str | None
    #: The process's one writer of this bus (writer.py): every write goes through it.
    writer: Writer
    _engine: "Engine | None" = None

    def _read_revision(self) -> None:
        """Read the schema revision (closed if that fails); an opener migrates a bus not at the head."""
        try:
            self.schema_revision = self._revision()
        except BaseException:
            self.close()
            raise

    def _revision(self) -> str | None:
        raise NotImplementedError

    def migration_lock(self) -> Path | None:
        """The file lock migrations take (SPEC SCHEMA-2); None where the database locks itself."""
        return None

    def migrated(self, revision: str, engine: "Engine") -> None:
        """The opener brought the bus to ``revision`` on ``engine``, which the Bus built on this driver reuses."""
        self.schema_revision = revision
        self._engine = engine

    def take_engine(self) -> "Engine | None":
        """The engine made for a migration, if any, for the Bus built on this driver (it disposes it)."""
        engine, self._engine = self._engine, None
        return engine

    def register(self, name: str, **fields: Any) -> Peer:
        """Take ``name`` for this session (presence.arriving's fields); NameTaken if a live session holds it."""
        peer = arriving(name, **fields)
        stale_seconds = self.settings.stale_seconds

        def take(tx: Tx) -> None:
            take_name(tx, peer, stale_seconds)

        self.writer.write(take)
        return peer

    def register_unique(self, preferred: str, **kwargs: Any) -> Peer:
        """``preferred``, else ``preferred-2``, ``-3``... (presence.first_free)."""
        return first_free(lambda name: self.register(name, **kwargs), preferred)

    def unregister(self, name: str, session_id: str, *, deadline: float | None = None) -> None:
        """Give up ``name``; ``deadline``: seconds to wait for the write lock (the busy timeout if None)."""

        def leave(tx: Tx) -> None:
            tx.run(LEAVE, {"name": name, "session_id": session_id})

        self.writer.write(leave, deadline=deadline)

    def _close_connection(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Close the writer and its connection, then dispose of a migration's engine."""
        self._close_connection()
        engine = self.take_engine()
        if engine is not None:
            engine.dispose()
