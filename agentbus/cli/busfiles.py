"""The bus as the CLI sees it: its files or its database, how to name it in messages, and removal."""

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from agentbus.core.bus import HOST, Peer, pid_alive
from agentbus.core.config import Settings
from agentbus.core.writelock import WRITE_LOCK_FILE

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


def why_stale(peer: Peer, settings: Settings, now: float | None = None) -> str:
    """Why a peer the core (Bus.is_live) found not live is stale, in words."""
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
