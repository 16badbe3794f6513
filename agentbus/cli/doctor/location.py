"""Where the bus is (bus.location): its backend, and for the SQLite file its directory and permissions."""

import os
import stat
from pathlib import Path

from agentbus.cli.busfiles import hide_password, uses_default_file
from agentbus.cli.doctor.model import Check, Context, Status, tilde
from agentbus.core.config import Backend


def mode_problem(path: Path, want: int) -> tuple[Status, str] | None:
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid != os.getuid():
        return "fail", f"{path} is owned by uid {info.st_uid}, not you"
    if path.is_dir() and mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "fail", f"{path} is writable by group or others (mode {mode:o}); the bus refuses to open it"
    if mode & 0o077:
        return "warn", f"{path} has mode {mode:o}, readable by other users (want {want:o})"
    return None


def searchable(directory: Path) -> bool:
    """``directory`` is a directory this user may look into (its files can be checked)."""
    return os.path.isdir(directory) and os.access(directory, os.X_OK)


def _owner_and_mode(path: Path) -> str:
    info = path.stat()
    return f"mode {stat.S_IMODE(info.st_mode):03o}, owner uid {info.st_uid}"


def _blocked_home(home: Path, shown: str) -> tuple[str, str] | None:
    """Why a session could not create the missing bus directory ``home``: (summary, hint), or None if it can.

    Walks down from the root like ``mkdir -p`` would: a component that is a file or a dangling
    symlink, or a nearest existing directory this user cannot write into, stops every session.
    """
    elsewhere = "or set AGENTBUS_HOME to a directory of your own"
    cannot = f"cannot create the bus directory {shown}"
    path = Path(os.path.abspath(home))
    parent = Path(path.anchor)
    for part in path.relative_to(parent).parts:
        here = parent / part
        try:
            info = here.stat()
        except FileNotFoundError:
            if here.is_symlink():
                target = os.readlink(here)
                summary = f"{cannot}: {here} is a symlink to {target}, which does not exist"
                return summary, f"create {target}, {elsewhere}"
            break
        except PermissionError:
            summary = f"{cannot}: {parent} cannot be searched by you ({_owner_and_mode(parent)})"
            return summary, f"ask its owner to give you access (chmod o+x {parent}), {elsewhere}"
        except OSError as exc:  # a symlink loop, a name too long
            return f"{cannot}: {here}: {exc.strerror}", elsewhere.removeprefix("or ")
        if not stat.S_ISDIR(info.st_mode):
            kind = "a file, not a directory" if stat.S_ISREG(info.st_mode) else "not a directory"
            return f"{cannot}: {here} is {kind}", f"move {here} aside, {elsewhere}"
        parent = here
    if not os.access(parent, os.W_OK | os.X_OK):
        summary = f"{cannot}: you cannot write into {parent} ({_owner_and_mode(parent)})"
        return summary, f"have {parent}'s owner create {home} for you (mode 700, owned by you), {elsewhere}"
    return None


def _on_read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _unwritable_home(home: Path) -> tuple[str, str] | None:
    """Why this user cannot create files in the bus directory, as every session must: (summary, hint), or None."""
    if os.access(home, os.W_OK | os.X_OK):
        return None
    if os.access(home, os.X_OK):
        why = "SQLite must create bus.db-wal and bus.db-shm there, so no session can open the bus"
    else:
        why = "no session can even open bus.db in it"
    if _on_read_only_fs(home):
        return f"cannot write into {home}: it is on a read-only file system; {why}", (
            "remount it read-write, or set AGENTBUS_HOME to a directory on a writable file system"
        )
    return f"cannot write into {home} ({_owner_and_mode(home)}): {why}", f"chmod 700 {home}"


def _permission_hint(path: Path, want: int) -> str:
    if path.stat().st_uid != os.getuid():
        return f"it must be yours: sudo chown {os.getuid()} {path}, or set AGENTBUS_HOME to a directory of your own"
    return f"chmod {want:o} {path}"


def check_location(ctx: Context) -> list[Check]:
    settings = ctx.settings
    assert settings is not None
    if not uses_default_file(settings):
        shown_url = hide_password(settings.db_url or "")
        details = {"backend": settings.backend.value, "url": shown_url}
        if settings.backend is Backend.POSTGRESQL:
            summary = f"PostgreSQL bus at {shown_url} (AGENTBUS_DB_URL)"
        else:
            summary = f"SQLite bus at {shown_url} (AGENTBUS_DB_URL); file checks skipped"
        # Another database cannot get here: Settings refuses its URL, and doctor's settings line says so.
        return [Check("bus.location", "bus", "info", summary, "", details)]
    home = settings.home
    shown = tilde(home, ctx.env)
    details = {"backend": Backend.SQLITE.value, "path": str(settings.db_path)}
    if not os.path.exists(home):
        blocked = _blocked_home(home, shown)
        if blocked:
            return [Check("bus.location", "bus", "fail", *blocked, details)]
        return [
            Check(
                "bus.location",
                "bus",
                "info",
                f"no bus yet at {shown}: the SQLite file bus.db is created when the first session starts",
                "",
                details,
            )
        ]
    if not home.is_dir():
        return [
            Check("bus.location", "bus", "fail", f"{shown} is not a directory", f"move it aside: mv {home} {home}.old")
        ]
    checks = [Check("bus.location", "bus", "pass", f"SQLite bus file in {shown} (bus.db)", "", details)]
    problems: list[tuple[Status, str, str]] = []
    problem = mode_problem(home, 0o700)
    unwritable = None if problem and problem[0] == "fail" else _unwritable_home(home)
    if unwritable:
        problems.append(("fail", *unwritable))
    elif problem:
        problems.append((*problem, _permission_hint(home, 0o700)))
    if searchable(home):  # else its files cannot even be looked at (the line above says why)
        # A session makes bus.db and its -wal/-shm files 0600 itself: one it cannot write is fatal only
        # when it cannot chmod it either, i.e. when another user owns it (which mode_problem reports).
        for path in (settings.db_path, *(Path(f"{settings.db_path}{suffix}") for suffix in ("-wal", "-shm"))):
            if path.exists() and (problem := mode_problem(path, 0o600)):
                problems.append((*problem, _permission_hint(path, 0o600)))
    if not problems:
        mode = stat.S_IMODE(home.stat().st_mode)
        db_mode = f", db {stat.S_IMODE(settings.db_path.stat().st_mode):o}" if settings.db_path.exists() else ""
        checks.append(Check("bus.permissions", "permissions", "pass", f"private: dir {mode:o}{db_mode}"))
    for status, text, hint in problems:
        checks.append(Check("bus.permissions", "permissions", status, text, hint))
    return checks
