"""The bus as the CLI sees it: its files or its database, a read-only view for doctor, and removal."""

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from agentbus.core.bus import HOST, Bus, Peer, pid_alive
from agentbus.core.config import Backend, Settings
from agentbus.core.engine import sqlite_file
from agentbus.core.writequeue import WRITE_LOCK_FILE

DB_SIDE_FILES = ("-wal", "-shm", "-journal")
LOCK_FILE = "bus.lock"
#: Seconds doctor and the CLI wait for a database server to accept a connection.
CONNECT_TIMEOUT = 5


def uses_default_file(settings: Settings) -> bool:
    """True when the bus is the SQLite file under AGENTBUS_HOME (no AGENTBUS_DB_URL)."""
    return settings.db_url is None


def hide_password(url: str) -> str:
    """A database URL fit to print: its password, if any, becomes ``***``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def scrub(text: str, settings: Settings) -> str:
    """``text`` with the database URL's password hidden (the whole URL, and the bare password too)."""
    url = settings.db_url
    if not url:
        return text
    text = text.replace(url, hide_password(url))
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        password = make_url(url).password
    except ArgumentError:
        return text
    # A very short password would also match ordinary words and numbers of the message.
    return text.replace(str(password), "***") if password and len(str(password)) >= 4 else text


def location(settings: Settings) -> str:
    """Where the bus is, for messages: the file path, or the URL without its password."""
    return str(settings.db_path) if settings.db_url is None else hide_password(settings.db_url)


def bus_exists(settings: Settings) -> bool:
    return not uses_default_file(settings) or settings.db_path.exists()


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
        path = db_path
        return create_engine(
            "sqlite://", creator=lambda: connect_readonly(path, settings.busy_timeout_seconds), poolclass=NullPool
        )
    connect_args: dict[str, object] = {}
    if settings.backend is Backend.POSTGRESQL:
        connect_args = {"options": "-c default_transaction_read_only=on", "connect_timeout": CONNECT_TIMEOUT}
    return create_engine(settings.url, poolclass=NullPool, connect_args=connect_args)


@contextmanager
def readonly_bus(settings: Settings) -> Iterator[Bus]:
    """A Bus whose queries run on a read-only connection (no migration, no chmod, no reaping).

    The core has no read-only constructor yet, so this builds the instance by hand; only read
    methods (peers with include_stale=True, mailbox_stats, pending, history) may be called on it.
    """
    engine = readonly_engine(settings)
    bus = object.__new__(Bus)
    bus.settings = settings
    bus.where = location(settings)
    bus.engine = engine
    bus.schema_revision = ""
    try:
        yield bus
    finally:
        engine.dispose()


def is_live(peer: Peer, settings: Settings, now: float | None = None) -> bool:
    """The core's liveness rule: seen within stale_seconds, and (on this host) its pid still runs."""
    now = time.time() if now is None else now
    if peer.last_seen < now - settings.stale_seconds:
        return False
    return not (peer.host == HOST and not pid_alive(peer.pid))


def why_stale(peer: Peer, settings: Settings, now: float | None = None) -> str:
    now = time.time() if now is None else now
    if peer.host == HOST and not pid_alive(peer.pid):
        return f"pid {peer.pid} is gone"
    return f"silent for {now - peer.last_seen:.0f}s (limit {settings.stale_seconds:.0f}s)"


@dataclass
class Removal:
    removed: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def remove_bus(settings: Settings) -> Removal:
    """Delete the bus files (db, WAL/SHM, lock, wake files) and the directory if it ends up empty.

    Only files agentbus creates are removed: anything else under AGENTBUS_HOME is kept.
    """
    result = Removal()
    home = settings.home
    if not home.is_dir():
        return result
    candidates = [
        settings.db_path,
        *(Path(str(settings.db_path) + s) for s in DB_SIDE_FILES),
        home / LOCK_FILE,
        home / WRITE_LOCK_FILE,
    ]
    for path in candidates:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            result.removed.append(path)
    wake = settings.wake_dir
    if wake.is_dir():
        for path in sorted(wake.iterdir()):
            if path.is_file() or path.is_symlink():
                path.unlink()
                result.removed.append(path)
        with contextlib.suppress(OSError):
            wake.rmdir()
            result.removed.append(wake)
    try:
        home.rmdir()
        result.removed.append(home)
    except OSError:
        result.kept.extend(sorted(home.iterdir()))
    return result
