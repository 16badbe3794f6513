"""The bus directory on disk: created private (0700, db 0600) and refused when unsafe."""

import contextlib
import os
import stat
from pathlib import Path

from agentbus.core.errors import BusUnavailable

HOME_MODE = 0o700
FILE_MODE = 0o600


def ensure_home(home: Path) -> Path:
    """Create ``home`` (0700) if missing, check nobody else can write into it, then create its wake dir.

    The check comes before anything is written inside: an unsafe home is refused untouched.
    """
    for directory, what in ((home, "bus directory"), (home / "wake", "wake directory")):
        try:
            directory.mkdir(mode=HOME_MODE, parents=directory == home, exist_ok=True)
        except OSError as exc:
            raise BusUnavailable(f"cannot create {what} {directory}: {exc.strerror}") from exc
        if directory == home:
            check_home_safe(home)
    return home


def check_home_safe(home: Path) -> None:
    """Refuse a home owned by another user or writable by group/others (messages are prompts)."""
    info = home.stat()
    if info.st_uid != os.getuid():
        raise BusUnavailable(
            f"bus directory {home} is owned by uid {info.st_uid}, not you (uid {os.getuid()}); "
            "point AGENTBUS_HOME at a directory of your own"
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise BusUnavailable(
            f"bus directory {home} is writable by group or others (mode {stat.S_IMODE(info.st_mode):o}); "
            f"run: chmod 700 {home}"
        )


def restrict_file(path: Path) -> None:
    """Make an existing bus file private (0600); missing files are ignored."""
    with contextlib.suppress(FileNotFoundError):
        os.chmod(path, FILE_MODE)
