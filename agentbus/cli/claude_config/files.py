"""The config files on disk: where each scope's file is, reading it, and the atomic edit with a backup."""

import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agentbus.cli.claude_config.document import ConfigError, Document

Scope = Literal["user", "project"]
SCOPES: tuple[Scope, ...] = ("user", "project")
BACKUP_SUFFIX = ".agentbus-backup"
WRITE_ATTEMPTS = 5


class _ConfigChanged(Exception):
    """The file changed between our read and our write (Claude Code saved it meanwhile)."""


def user_config_path(env: dict[str, str] | None = None) -> Path:
    """``$CLAUDE_CONFIG_DIR/.claude.json`` if that variable is set, else ``~/.claude.json``."""
    env = dict(os.environ) if env is None else env
    config_dir = env.get("CLAUDE_CONFIG_DIR")
    if config_dir:
        return Path(config_dir).expanduser() / ".claude.json"
    home = env.get("HOME")
    return (Path(home) if home else Path.home()) / ".claude.json"


def project_config_path(cwd: Path | None = None) -> Path:
    return (cwd or Path.cwd()) / ".mcp.json"


def config_path(scope: Scope, env: dict[str, str] | None = None, cwd: Path | None = None) -> Path:
    return user_config_path(env) if scope == "user" else project_config_path(cwd)


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + BACKUP_SUFFIX)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


def _decode(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; refusing to change it") from None


def load(path: Path) -> Document | None:
    """The parsed file, or None if it does not exist. ConfigError if it cannot be used."""
    raw = _read(path)
    if raw is None:
        return None
    return Document(_decode(raw, path), path)


def _atomic_write(target: Path, data: bytes, *, mode: int, expected: bytes | None) -> None:
    """Write ``data`` via a temp file + rename in the same directory; refuse if the file moved on."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        if _read(target) != expected:
            raise _ConfigChanged
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(target.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


@dataclass(frozen=True)
class Change:
    """What an enable or disable did to one file."""

    path: Path
    action: Literal["added", "updated", "unchanged", "removed", "absent", "deleted"]
    backup: Path | None = None


def edit(path: Path, new_mode: int, transform: Callable[[Document | None], tuple[str, str] | None]) -> Change:
    """Read, transform, write back atomically with a backup; retry if the file changed meanwhile."""
    target = path.resolve() if path.is_symlink() else path
    for _ in range(WRITE_ATTEMPTS):
        raw = _read(target)
        doc = None if raw is None else Document(_decode(raw, path), path)
        result: tuple[str, str] | None = transform(doc)
        if result is None:
            return Change(path, "unchanged" if doc is not None else "absent")
        action, text = result
        data = text.encode("utf-8")
        backup = None
        try:
            if raw is not None:
                mode = stat.S_IMODE(target.stat().st_mode)
                backup = backup_path(path)
                _atomic_write(backup, raw, mode=0o600, expected=_read(backup))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                mode = new_mode
            if action == "deleted":
                if _read(target) != raw:
                    raise _ConfigChanged
                target.unlink()
            else:
                _atomic_write(target, data, mode=mode, expected=raw)
        except _ConfigChanged:
            continue
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
        return Change(path, action, backup)  # type: ignore[arg-type]
    raise ConfigError(f"{path} kept changing while agentbus tried to update it; close Claude Code and retry")
