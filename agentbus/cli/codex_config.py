"""Codex's ``config.toml``: our ``[mcp_servers.agentbus]`` table added, updated or removed; nothing else touched.

``enable`` appends our table as a marked block of text (checked by parsing the result with tomlkit),
so ``disable`` can take exactly that text back out: enable then disable gives back the file byte
for byte (tests/test_cli_codex.py checks several shapes). A table the user wrote, or a file edited
after our block, is edited with tomlkit, which keeps comments, order and formatting of the rest.
A file left empty is deleted. Writes are atomic (a temp file renamed over it) and keep the file's
mode; a file that is not valid TOML is refused with its parser's sentence, never rewritten.
"""

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions
import tomlkit.items

from agentbus.core.config import Settings

APPROVAL_KEY = "default_tools_approval_mode"
MCP_SERVERS = "mcp_servers"


class CodexConfigError(Exception):
    """The config file cannot be read, parsed or written; the message says which and why."""


@dataclass(frozen=True)
class Change:
    """What an edit did: ``added``, ``updated``, ``unchanged``, ``removed``, ``deleted`` (the file) or ``absent``."""

    action: str
    path: Path


def config_path(env: dict[str, str] | None = None) -> Path:
    """``$CODEX_HOME/config.toml``, else ``~/.codex/config.toml``."""
    env = dict(os.environ) if env is None else env
    home = env.get("CODEX_HOME")
    if home:
        return Path(home).expanduser() / "config.toml"
    user_home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return user_home / ".codex" / "config.toml"


def forwarded_variables() -> list[str]:
    """Every AGENTBUS_* setting (Settings): what Codex must forward to our server (``env_vars``)."""
    from dataclasses import fields

    return [str(each.metadata["env"]) for each in fields(Settings) if "env" in each.metadata]


def server_table(command: str, args: list[str]) -> dict[str, Any]:
    """The keys ``enable`` writes: how to start the server, what to forward, its tools approved."""
    return {"command": command, "args": args, "env_vars": forwarded_variables(), APPROVAL_KEY: "approve"}


def _read(path: Path) -> tuple[str | None, tomlkit.TOMLDocument]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, tomlkit.document()
    except (OSError, UnicodeDecodeError) as exc:
        raise CodexConfigError(f"cannot read {path}: {exc}") from None
    try:
        return text, tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise CodexConfigError(f"{path} is not valid TOML ({exc}); fix it by hand, nothing was changed") from None


def _write(path: Path, text: str, *, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise CodexConfigError(f"cannot write {path}: {exc}") from None


def registered(path: Path, name: str) -> dict[str, Any] | None:
    """Our server's table as a plain dict, or None if the file does not register ``name``."""
    _text, doc = _read(path)
    servers = doc.unwrap().get(MCP_SERVERS)
    table = servers.get(name) if isinstance(servers, dict) else None
    return dict(table) if isinstance(table, dict) else None


def _marker(name: str) -> str:
    return f"# added by agentbus enable codex; agentbus disable codex removes it\n[{MCP_SERVERS}.{name}]\n"


def _block(name: str, keys: dict[str, Any]) -> str:
    """Our table as the text ``enable`` appends: the marker comment, the header, one line per key."""
    body = tomlkit.dumps({MCP_SERVERS: {name: keys}})
    header = f"[{MCP_SERVERS}.{name}]\n"
    return _marker(name) + body[body.index(header) + len(header) :]


def _our_tail(text: str, name: str) -> int | None:
    """Where the block ``enable`` appended starts, if the file still ends with it (and nothing else follows)."""
    start = text.rfind(_marker(name))
    if start < 0:
        return None
    try:
        tail = tomlkit.parse(text[start:]).unwrap()
    except tomlkit.exceptions.ParseError:
        return None
    return start if list(tail) == [MCP_SERVERS] and list(tail[MCP_SERVERS]) == [name] else None


def _separator(before: str) -> str:
    # One newline before the block: a blank line after a file that ends with one, none for an empty file.
    return "\n" if before else ""


def add_server(path: Path, name: str, keys: dict[str, Any]) -> Change:
    """Set ``keys`` in ``[mcp_servers.<name>]``; everything else in the file is kept as it is.

    A new table is appended as text (``_block``), so ``remove_server`` can take exactly that text back
    out; our block is rewritten in place; a table the user wrote is edited with tomlkit.
    """
    before, doc = _read(path)
    text = before or ""
    servers = doc.get(MCP_SERVERS)
    if servers is not None and not isinstance(servers, dict):
        raise CodexConfigError(f"{path}: {MCP_SERVERS} is not a table; fix it by hand, nothing was changed")
    existing = servers.get(name) if servers is not None else None
    if existing is not None and not isinstance(existing, dict):
        raise CodexConfigError(f"{path}: {MCP_SERVERS}.{name} is not a table; fix it by hand, nothing was changed")
    if existing is not None and _registers(text, name, keys):
        return Change("unchanged", path)
    action = "added" if existing is None else "updated"
    tail = _our_tail(text, name)
    if existing is None or tail is not None:
        new = text[:tail] + _block(name, keys) if tail is not None else text + _separator(text) + _block(name, keys)
        if _registers(new, name, keys):  # else (an inline mcp_servers = {...}, say) tomlkit edits it below
            _write(path, new, mode=_mode(path, before))
            return Change(action, path)
    if servers is None:
        servers = tomlkit.table(is_super_table=True)
        doc[MCP_SERVERS] = servers
    if existing is None:
        inline = isinstance(servers, tomlkit.items.InlineTable)
        existing = servers[name] = tomlkit.inline_table() if inline else tomlkit.table()
    for key, value in keys.items():
        existing[key] = value
    _write(path, tomlkit.dumps(doc), mode=_mode(path, before))
    return Change(action, path)


def _registers(text: str, name: str, keys: dict[str, Any]) -> bool:
    """``text`` is valid TOML whose ``mcp_servers.<name>`` has ``keys``."""
    try:
        table = tomlkit.parse(text).unwrap().get(MCP_SERVERS, {}).get(name, {})
    except (tomlkit.exceptions.ParseError, AttributeError):
        return False
    return isinstance(table, dict) and table.items() >= keys.items()


def _mode(path: Path, before: str | None) -> int:
    return path.stat().st_mode & 0o777 if before is not None else 0o600


def remove_server(path: Path, name: str) -> Change:
    """Remove ``[mcp_servers.<name>]``: the block ``enable`` appended is taken out exactly (so the file is
    byte for byte what it was), a table edited since is removed with tomlkit; a file left empty is deleted."""
    before, doc = _read(path)
    servers = doc.get(MCP_SERVERS)
    if before is None or not isinstance(servers, dict) or name not in servers:
        return Change("absent", path)
    tail = _our_tail(before, name)
    if tail is not None:
        text = before[:tail]
        text = text[: len(text) - 1] if text else text  # the separator add_server put before the block
    else:
        del servers[name]
        if not servers:
            del doc[MCP_SERVERS]
        # tomlkit keeps a comment with what comes before it: our marker line would outlive our table.
        text = tomlkit.dumps(doc).replace(_marker(name).splitlines(keepends=True)[0], "")
    if not text.strip():
        path.unlink()
        return Change("deleted", path)
    _write(path, text, mode=path.stat().st_mode & 0o777)
    return Change("removed", path)
