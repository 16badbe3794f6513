"""The bus backend a run certifies against: a SQLite file per test, or a fresh PostgreSQL database per test.

With ``--agentbus-db-url`` (``AGENTBUS_DB_URL``, ini ``agentbus_db_url``) the kit is given an admin URL
of a PostgreSQL server. The database that URL names is used only to run ``CREATE DATABASE`` and
``DROP DATABASE``: every test gets a database of its own (``agentbus_conf_<random>``), its adapters
get ``AGENTBUS_DB_URL`` pointing at it, and it is dropped (``WITH (FORCE)``) when the test ends. The
role needs ``CREATEDB``. The kit talks to PostgreSQL with psycopg 3 (``pip install 'psycopg[binary]'``)
and never imports the agentbus core, so it still certifies adapters written in any language.
"""

import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

#: Prefix of the databases the kit creates (one per test, dropped at teardown).
DATABASE_PREFIX = "agentbus_conf_"
CONNECT_TIMEOUT = 10


class BackendError(Exception):
    """The configured bus backend cannot be used (bad URL, server unreachable, psycopg missing)."""


def hide_password(url: str) -> str:
    """``url`` fit to print: its password, if any, becomes ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", url)


def libpq_conninfo(url: str | URL) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://...``) as a libpq URI psycopg accepts."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - depends on the installation
        raise BackendError(
            "a PostgreSQL bus needs psycopg 3 in the kit's environment: pip install 'psycopg[binary]'"
        ) from None
    return psycopg


def connect(url: str | URL, *, autocommit: bool = True) -> Any:
    """A psycopg connection to ``url`` (a SQLAlchemy or libpq URL)."""
    return _psycopg().connect(libpq_conninfo(url), autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT)


@dataclass(frozen=True)
class Backend:
    """Where the buses of a run live. ``admin_url`` None: the SQLite file ``AGENTBUS_HOME/bus.db``."""

    admin_url: str | None = None
    server_version: str = ""

    @property
    def kind(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return "sqlite" if self.admin_url is None else "postgresql"

    @property
    def is_postgres(self) -> bool:
        """True when every test gets a PostgreSQL database instead of a bus file."""
        return self.admin_url is not None

    def describe(self) -> str:
        """One line for the report header and the verdict."""
        if self.admin_url is None:
            return "SQLite file AGENTBUS_HOME/bus.db (one per test)"
        server = make_url(self.admin_url)._replace(database=None).render_as_string(hide_password=True)
        version = f"PostgreSQL {self.server_version}" if self.server_version else "PostgreSQL"
        return f"{version} at {server} (a fresh database {DATABASE_PREFIX}<random> per test)"

    def create_database(self) -> str:
        """Create an empty database for one test; its URL (the admin URL's driver, user and server)."""
        assert self.admin_url is not None
        name = f"{DATABASE_PREFIX}{secrets.token_hex(6)}"
        with connect(self.admin_url) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        """Drop a database made by :meth:`create_database`, closing any connection still open to it."""
        assert self.admin_url is not None
        name = make_url(url).database or ""
        if not name.startswith(DATABASE_PREFIX):
            raise BackendError(f"refusing to drop {name!r}: not a database the kit created")
        with connect(self.admin_url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_backend(db_url: str | None) -> Backend:
    """The backend for ``db_url`` (None: SQLite), checked once: URL, psycopg, connection, CREATEDB."""
    if not db_url:
        return Backend()
    shown = hide_password(db_url)
    try:
        parsed = make_url(db_url)
    except ArgumentError as exc:
        raise BackendError(f"{shown} is not a database URL: {exc}") from None
    if parsed.get_backend_name() != "postgresql":
        raise BackendError(
            f"{shown} is not a PostgreSQL URL (use postgresql+psycopg://user@host:port/dbname); "
            "without it the kit certifies against the SQLite bus file"
        )
    psycopg = _psycopg()
    try:
        with connect(db_url) as admin:
            version = str(admin.execute("SHOW server_version").fetchone()[0]).split()[0]
            row = admin.execute("SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    except psycopg.Error as exc:
        message = " ".join(str(exc).split())
        if parsed.password:
            message = message.replace(parsed.password, "***")
        raise BackendError(f"cannot connect to PostgreSQL at {shown}: {message}") from None
    if not row or not row[0]:
        raise BackendError(
            f"the role of {shown} may not create databases; the kit creates one per test (ALTER ROLE ... CREATEDB)"
        )
    return Backend(db_url, version)
