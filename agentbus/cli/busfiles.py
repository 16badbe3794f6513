"""The bus on disk as the CLI sees it: its files, a read-only view for doctor, and removal."""

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from agentbus.core.bus import HOST, Bus, Peer, pid_alive
from agentbus.core.config import Settings

DB_SIDE_FILES = ("-wal", "-shm", "-journal")
LOCK_FILE = "bus.lock"


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


@contextmanager
def readonly_bus(settings: Settings) -> Iterator[Bus]:
    """A Bus whose queries run on a read-only connection (no migration, no chmod, no reaping).

    The core has no read-only constructor yet, so this builds the instance by hand; only read
    methods (peers with include_stale=True, mailbox_stats, pending, history) may be called on it.
    """
    if not uses_default_file(settings):
        with Bus(settings) as bus:
            yield bus
        return
    db_path = settings.db_path
    engine = create_engine(
        "sqlite://", creator=lambda: connect_readonly(db_path, settings.busy_timeout_seconds), poolclass=NullPool
    )
    bus = object.__new__(Bus)
    bus.settings = settings
    bus.where = str(db_path)
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
    candidates = [settings.db_path, *(Path(str(settings.db_path) + s) for s in DB_SIDE_FILES), home / LOCK_FILE]
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
