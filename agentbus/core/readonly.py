"""Reading a bus without changing it: SQLite opens that create nothing, and read-only server sessions."""

import sqlite3
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from agentbus.core.config import Backend, Settings
from agentbus.core.engine import sqlite_file
from agentbus.core.errors import BusUnavailable

#: Seconds a read-only open waits for a database server to accept the connection.
CONNECT_TIMEOUT = 5


def readonly_uri(db_path: Path) -> str:
    """A SQLite URI that never creates or changes anything.

    With no ``-wal`` file nobody has the bus open, so ``immutable=1`` reads it without creating
    ``-wal``/``-shm`` side files (a plain read-only open would leave them behind). With a ``-wal``
    file present, sessions are running and a normal read-only open shares their WAL.
    """
    uri = f"file:{quote(str(db_path))}?mode=ro"
    if not Path(str(db_path) + "-wal").exists():
        uri += "&immutable=1"
    return uri


def connect_readonly(db_path: Path, timeout: float = 5.0) -> sqlite3.Connection:
    return sqlite3.connect(readonly_uri(db_path), uri=True, timeout=timeout, check_same_thread=False)


def readonly_engine(settings: Settings) -> Engine:
    """An engine that cannot change the bus: a read-only SQLite open, or server sessions in read-only mode.

    On a database server every transaction is read-only (``default_transaction_read_only``), the
    connection attempt gives up after CONNECT_TIMEOUT seconds, and nothing is pooled.
    """
    db_path = sqlite_file(settings.url)
    if db_path is not None:
        if not db_path.exists():  # else sqlite's "unable to open" would read as a permissions problem
            raise BusUnavailable(f"there is no bus at {db_path}")
        path = db_path
        return create_engine(
            "sqlite://", creator=lambda: connect_readonly(path, settings.busy_timeout_seconds), poolclass=NullPool
        )
    connect_args: dict[str, object] = {}
    if settings.backend is Backend.POSTGRESQL:
        connect_args = {"options": "-c default_transaction_read_only=on", "connect_timeout": CONNECT_TIMEOUT}
    return create_engine(settings.url, poolclass=NullPool, connect_args=connect_args)
