"""A PostgreSQL bus at the driver level (psycopg, no SQLAlchemy): its schema revision and its name writes.

The PostgreSQL counterpart of busfile.py. A starting adapter must be registered before it answers
``initialize`` (SPEC PRES-1), and SQLAlchemy's import (~300 ms on the project's machine, most of a
start) would come first; psycopg alone is ~190 ms. So the database's schema revision is read and the
peers row written on one psycopg connection, under the name's advisory lock (as rename takes it).
Every register and unregister of a PostgreSQL bus goes through here, at start-up or later
(``Bus.register`` too): one path. Only a database that is not at the schema head loads SQLAlchemy
and migrate.py here; the rest of the bus (``Bus``, SQLAlchemy) is built after the answer, on the
engine handed over.
"""

import contextlib
import math
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agentbus.core.busfile import describe_db_error
from agentbus.core.config import Settings
from agentbus.core.driver_base import DriverBus
from agentbus.core.errors import BusUnavailable
from agentbus.core.mailbox_sql import LOCK_NAME_PG
from agentbus.core.presence import LEAVE, arriving, take_name
from agentbus.core.records import Peer

if TYPE_CHECKING:
    import psycopg

_NAMED = re.compile(r"(?<!:):([A-Za-z_][A-Za-z0-9_]*)")


def libpq_conninfo(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://...``) as a libpq URI (both percent-encode the same way)."""
    return re.sub(r"^postgresql(\+\w+)?://", "postgresql://", url)


def masked(url: str) -> str:
    """The URL with its password hidden, for messages (as SQLAlchemy renders it)."""
    return re.sub(r"^([^:/]+://[^:/@]+):[^@]*@", r"\1:***@", url)


def connect_options(busy_timeout_seconds: float) -> dict[str, Any]:
    """The busy timeout's PostgreSQL counterparts, for psycopg.connect (here and under SQLAlchemy).

    A lock held longer fails the statement instead of hanging the session for good (0 would mean "no
    timeout" there, hence at least 1 ms), and a server that does not answer (black-holed, stopped)
    fails the connection instead of hanging start-up until TCP gives up (libpq counts whole seconds,
    at least 2).
    """
    return {
        "options": f"-c lock_timeout={max(1, int(busy_timeout_seconds * 1000))}",
        "connect_timeout": max(2, math.ceil(busy_timeout_seconds)),
    }


class PgTx:
    """presence.Tx on a psycopg connection inside a transaction (``:name`` parameters become ``%(name)s``)."""

    def __init__(self, conn: "psycopg.Connection[Any]") -> None:
        self.conn = conn

    def run(self, sql: str, params: Mapping[str, Any]) -> None:
        self.conn.execute(_NAMED.sub(r"%(\1)s", sql), dict(params))

    def first(self, sql: str, params: Mapping[str, Any]) -> Sequence[Any] | None:
        row: Sequence[Any] | None = self.conn.execute(_NAMED.sub(r"%(\1)s", sql), dict(params)).fetchone()
        return row


class PgDriver(DriverBus):
    """An open PostgreSQL bus at the driver level. Thread-safe (one connection, one transaction at a time)."""

    def __init__(self, settings: Settings) -> None:
        import psycopg

        self.settings = settings
        self.where = masked(settings.url)
        self._lock = threading.Lock()
        try:
            self._conn = psycopg.connect(
                libpq_conninfo(settings.url), autocommit=True, **connect_options(settings.busy_timeout_seconds)
            )
        except psycopg.Error as exc:
            raise _driver_error(exc, self.where) from exc
        self._reach_head()

    def _revision(self) -> str | None:
        import psycopg

        try:
            with self._lock:
                row = self._conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except psycopg.errors.UndefinedTable:
            return None
        except psycopg.Error as exc:
            raise _driver_error(exc, self.where) from exc
        return None if row is None else str(row[0])

    @contextlib.contextmanager
    def write(self) -> Iterator[PgTx]:
        """One transaction on the driver connection (committed, or rolled back on an exception)."""
        import psycopg

        with self._lock:
            try:
                with self._conn.transaction():
                    yield PgTx(self._conn)
            except psycopg.Error as exc:
                raise _driver_error(exc, self.where) from exc

    def register(self, name: str, **fields: Any) -> Peer:
        """Take ``name`` for this session (presence.arriving's fields); NameTaken if a live session holds it."""
        peer = arriving(name, **fields)
        with self.write() as tx:
            # Under READ COMMITTED two first starts could both find the name free and the second
            # INSERT hit the primary key; the name's lock (the one rename takes) serialises them.
            tx.run(LOCK_NAME_PG, {"name": name})
            take_name(tx, peer, self.settings.stale_seconds)
        return peer

    def unregister(self, name: str, session_id: str) -> None:
        with self.write() as tx:
            tx.run(LEAVE, {"name": name, "session_id": session_id})

    def close(self) -> None:
        with self._lock, contextlib.suppress(Exception):
            self._conn.close()
        super().close()


def _driver_error(exc: "psycopg.Error", where: str) -> BusUnavailable:
    import psycopg

    return describe_db_error(str(exc), where, operational=isinstance(exc, psycopg.OperationalError))
