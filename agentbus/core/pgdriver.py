"""A PostgreSQL bus at the driver level (psycopg, no SQLAlchemy): its schema revision and its writer.

The PostgreSQL counterpart of busfile.py. A starting adapter must be registered before it answers
``initialize`` (SPEC PRES-1), and SQLAlchemy's import (~300 ms on the project's machine, most of a
start) would come first; psycopg alone is ~190 ms. So the database's schema revision is read, and
every write of the process (writer.py) runs, on one psycopg connection: the same statements as on
SQLite, claims and names serialised by transaction-scoped advisory locks (SPEC SCHEMA-1).
"""

import contextlib
import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agentbus.core.config import Settings
from agentbus.core.driver_base import DriverBus
from agentbus.core.errors import BusUnavailable, describe_db_error
from agentbus.core.mailbox_sql import LOCK_NAME_PG, expand_lists
from agentbus.core.writer import Writer

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
    """tx.Tx on the writer's psycopg connection inside its transaction (``:name`` becomes ``%(name)s``)."""

    def __init__(self, conn: "psycopg.Connection[Any]", where: str) -> None:
        self.conn = conn
        self.where = where

    def _execute(self, sql: str, params: Mapping[str, Any]) -> "psycopg.Cursor[Any]":
        import psycopg

        statement, flat = expand_lists(sql, params)
        try:
            return self.conn.execute(_NAMED.sub(r"%(\1)s", statement), flat)
        except psycopg.Error as exc:
            raise _driver_error(exc, self.where) from exc

    def run(self, sql: str, params: Mapping[str, Any]) -> int:
        return self._execute(sql, params).rowcount

    def first(self, sql: str, params: Mapping[str, Any]) -> Sequence[Any] | None:
        row: Sequence[Any] | None = self._execute(sql, params).fetchone()
        return row

    def rows(self, sql: str, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        return list(self._execute(sql, params).fetchall())

    def lock_mailbox(self, recipient: str) -> None:
        """Serialise the claimers (and renames, and registrations) of one name: a transaction-scoped lock."""
        self.run(LOCK_NAME_PG, {"name": recipient})


class PgWriteDriver:
    """writer.WriteDriver on a psycopg connection: a transaction waits on the server, never on a loop."""

    begins_on_loop = False

    def __init__(self, conn: "psycopg.Connection[Any]", where: str) -> None:
        self.conn = conn
        self.where = where
        self._tx = PgTx(conn, where)

    def _execute(self, sql: str) -> None:
        self._tx.run(sql, {})

    def begin_now(self) -> bool:
        self._execute("BEGIN")
        return True

    def begin_waiting(self) -> None:
        self._execute("BEGIN")

    def tx(self) -> PgTx:
        return self._tx

    def savepoint(self) -> None:
        self._execute("SAVEPOINT work")

    def release_savepoint(self) -> None:
        self._execute("RELEASE SAVEPOINT work")

    def rollback_to_savepoint(self) -> None:
        self._execute("ROLLBACK TO SAVEPOINT work")

    def commit(self) -> None:
        self._execute("COMMIT")

    def rollback(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.execute("ROLLBACK")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()


class PgDriver(DriverBus):
    """An open PostgreSQL bus at the driver level: its schema at the head, and its writer."""

    def __init__(self, settings: Settings) -> None:
        import psycopg

        self.settings = settings
        self.where = masked(settings.url)
        try:
            self._conn = psycopg.connect(
                libpq_conninfo(settings.url), autocommit=True, **connect_options(settings.busy_timeout_seconds)
            )
        except psycopg.Error as exc:
            raise _driver_error(exc, self.where) from exc
        self._read_revision()
        self.writer = Writer(PgWriteDriver(self._conn, self.where), settings.busy_timeout_seconds)

    def _revision(self) -> str | None:
        import psycopg

        try:
            row = self._conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except psycopg.errors.UndefinedTable:
            return None
        except psycopg.Error as exc:
            raise _driver_error(exc, self.where) from exc
        return None if row is None else str(row[0])

    def _close_connection(self) -> None:
        if hasattr(self, "writer"):
            self.writer.close()
        else:
            with contextlib.suppress(Exception):
                self._conn.close()


def _driver_error(exc: "psycopg.Error", where: str) -> BusUnavailable:
    import psycopg

    return describe_db_error(str(exc), where, operational=isinstance(exc, psycopg.OperationalError))
