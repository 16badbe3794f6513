"""What both driver-level buses (busfile.py, pgdriver.py) share: the schema at its head, a migration's engine."""

from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentbus.core.config import Settings
from agentbus.core.presence import first_free
from agentbus.core.records import Peer

if TYPE_CHECKING:
    from sqlalchemy import Engine

#: Kept in step with schema.SCHEMA_HEAD (a test checks): reading it must not import SQLAlchemy.
SCHEMA_HEAD = "0003"


class DriverBus:
    """A bus opened on its driver connection. A subclass opens that connection, then calls
    ``_reach_head``; it reads the revision, registers and unregisters in its own driver's way."""

    settings: Settings
    where: str
    schema_revision: str | None
    _engine: "Engine | None" = None

    def _reach_head(self) -> None:
        """Read the schema revision and migrate a bus that is not at the head; closed if that fails."""
        try:
            self.schema_revision = self._revision()
            if self.schema_revision != SCHEMA_HEAD:
                self.schema_revision = self._migrate()
        except BaseException:
            self.close()
            raise

    def _revision(self) -> str | None:
        raise NotImplementedError

    def _migration_lock(self) -> Path | None:
        """The file lock migrations take (SPEC SCHEMA-2); None where the database locks itself."""
        return None

    def _migrate(self) -> str:
        """Bring the bus to the schema head (SQLAlchemy, and for an older revision Alembic, load here)."""
        from sqlalchemy.exc import DBAPIError

        from agentbus.core import migrate
        from agentbus.core.engine import make_engine, translate_db_error

        self._engine = make_engine(
            self.settings.url, busy_timeout_seconds=self.settings.busy_timeout_seconds, where=self.where
        )
        try:
            return migrate.upgrade(self._engine, self._migration_lock())
        except DBAPIError as exc:
            raise translate_db_error(exc, self.where) from exc

    def take_engine(self) -> "Engine | None":
        """The engine made for a migration, if any, for the Bus built on this driver (it disposes it)."""
        engine, self._engine = self._engine, None
        return engine

    def register(self, name: str, **fields: Any) -> Peer:
        raise NotImplementedError

    def register_unique(self, preferred: str, **kwargs: Any) -> Peer:
        """``preferred``, else ``preferred-2``, ``-3``... (presence.first_free)."""
        return first_free(lambda name: self.register(name, **kwargs), preferred)

    def close(self) -> None:
        """Close the driver connection (the subclass), then dispose of a migration's engine."""
        engine = self.take_engine()
        if engine is not None:
            engine.dispose()
