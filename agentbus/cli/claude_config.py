"""Claude Code's MCP config (~/.claude.json, .mcp.json): add or remove one server entry in place.

Edits are surgical: the file is parsed to locate byte spans, and only the text of our entry is
inserted, replaced or removed. Every other byte (key order, indentation, escapes, number spelling,
trailing newline) stays as it was, so enable followed by disable gives back the original file.
"""

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Scope = Literal["user", "project"]
SCOPES: tuple[Scope, ...] = ("user", "project")
BACKUP_SUFFIX = ".agentbus-backup"
MCP_SERVERS = "mcpServers"
WRITE_ATTEMPTS = 5


class ConfigError(Exception):
    """A config file we must not touch (unparseable, wrong shape) or cannot write."""


class _ConfigChanged(Exception):
    """The file changed between our read and our write (Claude Code saved it meanwhile)."""


# locating spans ---------------------------------------------------------------------------------


@dataclass
class Node:
    """A JSON value's span ``text[start:end]``; objects also list their members."""

    start: int
    end: int
    kind: Literal["object", "array", "scalar"]
    members: list["Member"] = field(default_factory=list)

    def member(self, key: str) -> "Member | None":
        """The last member called ``key`` (the one ``json.loads`` keeps), or None."""
        found = [m for m in self.members if m.key == key]
        return found[-1] if found else None


@dataclass
class Member:
    key: str
    key_start: int
    key_end: int
    value: Node


_WS = " \t\n\r"


class _Locator:
    """A recursive-descent scan of already-validated JSON text that records spans."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WS:
            self.pos += 1

    def value(self) -> Node:
        self.skip()
        char = self.text[self.pos]
        if char == "{":
            return self.obj()
        if char == "[":
            return self.array()
        start = self.pos
        if char == '"':
            self.string()
        else:
            while self.pos < len(self.text) and self.text[self.pos] not in _WS + ",]}":
                self.pos += 1
        return Node(start, self.pos, "scalar")

    def string(self) -> str:
        start = self.pos
        self.pos += 1
        while self.text[self.pos] != '"':
            self.pos += 2 if self.text[self.pos] == "\\" else 1
        self.pos += 1
        return str(json.loads(self.text[start : self.pos]))

    def obj(self) -> Node:
        node = Node(self.pos, -1, "object")
        self.pos += 1
        self.skip()
        if self.text[self.pos] == "}":
            self.pos += 1
            node.end = self.pos
            return node
        while True:
            self.skip()
            key_start = self.pos
            key = self.string()
            key_end = self.pos
            self.skip()
            self.pos += 1  # ':'
            value = self.value()
            node.members.append(Member(key, key_start, key_end, value))
            self.skip()
            if self.text[self.pos] == ",":
                self.pos += 1
                continue
            self.pos += 1  # '}'
            node.end = self.pos
            return node

    def array(self) -> Node:
        node = Node(self.pos, -1, "array")
        self.pos += 1
        self.skip()
        if self.text[self.pos] == "]":
            self.pos += 1
            node.end = self.pos
            return node
        while True:
            self.value()
            self.skip()
            if self.text[self.pos] == ",":
                self.pos += 1
                continue
            self.pos += 1  # ']'
            node.end = self.pos
            return node


# the document -----------------------------------------------------------------------------------


@dataclass
class Style:
    """How the file is laid out, so inserted text looks like the rest of it."""

    newline: str = "\n"
    unit: str = "  "
    colon: str = ": "
    multiline: bool = True
    comma: str = ", "


def _line_indent(text: str, pos: int) -> str:
    """The whitespace between the start of ``pos``'s line and the first non-blank character."""
    line_start = text.rfind("\n", 0, pos) + 1
    indent = ""
    for char in text[line_start:pos]:
        if char not in " \t":
            break
        indent += char
    return indent


def _detect_style(text: str, root: Node) -> Style:
    style = Style(newline="\r\n" if "\r\n" in text else "\n")
    if root.members:
        first = root.members[0]
        style.multiline = "\n" in text[root.start : first.key_start]
        if style.multiline:
            style.unit = _line_indent(text, first.key_start) or "  "
        style.colon = text[first.key_end : first.value.start] or ": "
        if len(root.members) > 1 and not style.multiline:
            style.comma = text[first.value.end : root.members[1].key_start]
    else:
        style.multiline = True
    return style


def _serialize(value: Any, style: Style, indent: str) -> str:
    """``value`` as JSON in the file's style; ``indent`` is the indentation of the line it starts on."""
    if isinstance(value, dict) and value:
        if not style.multiline:
            inner = style.comma.join(
                f"{json.dumps(k, ensure_ascii=False)}{style.colon}{_serialize(v, style, indent)}"
                for k, v in value.items()
            )
            return "{" + inner + "}"
        child = indent + style.unit
        items = [
            f"{child}{json.dumps(k, ensure_ascii=False)}{style.colon}{_serialize(v, style, child)}"
            for k, v in value.items()
        ]
        return "{" + style.newline + ("," + style.newline).join(items) + style.newline + indent + "}"
    if isinstance(value, list) and value:
        if not style.multiline:
            return "[" + style.comma.join(_serialize(v, style, indent) for v in value) + "]"
        child = indent + style.unit
        items = [child + _serialize(v, style, child) for v in value]
        return "[" + style.newline + ("," + style.newline).join(items) + style.newline + indent + "]"
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return json.dumps(value, ensure_ascii=False)


class Document:
    """One config file's text, parsed for reading and for span-preserving edits."""

    def __init__(self, text: str, path: Path) -> None:
        self.path = path
        self.text = text
        if text.strip() == "":
            self.text = text = "{}" + ("\n" if text == "" else text)
        try:
            self.data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                "refusing to change it. Fix it by hand (or restore a backup) and run the command again"
            ) from None
        if not isinstance(self.data, dict):
            raise ConfigError(f"{path} does not hold a JSON object at the top; refusing to change it")
        self.root = _Locator(text).value()
        self.style = _detect_style(text, self.root)
        servers = self.data.get(MCP_SERVERS)
        if servers is not None and not isinstance(servers, dict):
            raise ConfigError(f"{path}: {MCP_SERVERS!r} is not a JSON object; refusing to change it")

    def servers(self) -> dict[str, Any]:
        servers = self.data.get(MCP_SERVERS)
        return servers if isinstance(servers, dict) else {}

    def entry(self, server_name: str) -> Any:
        return self.servers().get(server_name)

    def _servers_node(self) -> Node | None:
        member = self.root.member(MCP_SERVERS)
        return member.value if member is not None else None

    def _splice(self, start: int, end: int, new: str) -> str:
        return self.text[:start] + new + self.text[end:]

    def _insert_member(self, obj: Node, key: str, value: Any, closing_indent: str) -> str:
        """Text with ``"key": value`` appended as the last member of ``obj``."""
        style = self.style
        if obj.members:
            last = obj.members[-1]
            if style.multiline and "\n" in self.text[obj.start : obj.members[0].key_start]:
                indent = _line_indent(self.text, obj.members[0].key_start)
                member = f"{json.dumps(key)}{style.colon}{_serialize(value, style, indent)}"
                return self._splice(last.value.end, last.value.end, "," + style.newline + indent + member)
            compact = Style(colon=style.colon, multiline=False, comma=style.comma)
            member = f"{json.dumps(key)}{style.colon}{_serialize(value, compact, '')}"
            return self._splice(last.value.end, last.value.end, style.comma + member)
        if style.multiline:
            indent = closing_indent + style.unit
            member = f"{json.dumps(key)}{style.colon}{_serialize(value, style, indent)}"
            body = "{" + style.newline + indent + member + style.newline + closing_indent + "}"
        else:
            body = "{" + f"{json.dumps(key)}{style.colon}{_serialize(value, style, '')}" + "}"
        return self._splice(obj.start, obj.end, body)

    def with_entry(self, server_name: str, entry: dict[str, Any]) -> str:
        """The file's text with ``mcpServers[server_name] = entry`` (replaced in place if present)."""
        servers = self._servers_node()
        if servers is None:
            return self._insert_member(self.root, MCP_SERVERS, {server_name: entry}, "")
        existing = servers.member(server_name)
        if existing is not None:
            indent = _line_indent(self.text, existing.key_start)
            multiline = self.style.multiline and "\n" in self.text[servers.start : servers.end]
            style = Style(self.style.newline, self.style.unit, self.style.colon, multiline, self.style.comma)
            new_value = _serialize(entry, style, indent)
            return self._splice(existing.value.start, existing.value.end, new_value)
        member = self.root.member(MCP_SERVERS)
        assert member is not None
        return self._insert_member(servers, server_name, entry, _line_indent(self.text, member.key_start))

    def without_entry(self, server_name: str) -> str:
        """The file's text with ``mcpServers[server_name]`` removed (every member of that name)."""
        text = self.text
        while True:
            doc = Document(text, self.path)
            servers = doc._servers_node()
            if servers is None or servers.member(server_name) is None:
                return text
            index = max(i for i, m in enumerate(servers.members) if m.key == server_name)
            member = servers.members[index]
            if len(servers.members) == 1:
                text = doc._splice(servers.start, servers.end, "{}")
            elif index > 0:
                text = doc._splice(servers.members[index - 1].value.end, member.value.end, "")
            else:
                text = doc._splice(member.key_start, servers.members[1].key_start, "")


# files ------------------------------------------------------------------------------------------


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


def _edit(path: Path, new_mode: int, transform: Callable[[Document | None], tuple[str, str] | None]) -> Change:
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


def server_entry(command: list[str] | tuple[str, ...], env: dict[str, str] | None = None) -> dict[str, Any]:
    """The ``mcpServers`` entry that starts ``command`` (first item made an absolute path)."""
    program = command[0]
    if not os.path.isabs(program):
        found = shutil.which(program)
        if found is None:
            raise ConfigError(f"cannot find {program!r} on PATH to register an absolute command")
        program = os.path.abspath(found)
    return {"type": "stdio", "command": program, "args": list(command[1:]), "env": dict(env or {})}


def same_program(a: str, b: str) -> bool:
    """The same executable under two names in one directory (``venv/bin/python`` and ``python3``).

    Paths in different directories never match, even when both link to one base interpreter:
    two virtualenvs of the same Python are different installs.
    """
    if a == b:
        return True
    if not (os.path.isabs(a) and os.path.isabs(b)) or os.path.dirname(a) != os.path.dirname(b):
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def same_command(a: list[str] | None, b: list[str] | None) -> bool:
    """Two ``[program, *args]`` lists that start the same thing (see ``same_program``)."""
    if a is None or b is None or len(a) != len(b) or not a:
        return a == b
    return same_program(a[0], b[0]) and a[1:] == b[1:]


def add_server(path: Path, server_name: str, entry: dict[str, Any], *, new_mode: int = 0o600) -> Change:
    """Register ``server_name``; an existing entry keeps its own ``env`` and is updated if it differs."""

    def transform(doc: Document | None) -> tuple[str, str] | None:
        wanted = dict(entry)
        if doc is None:
            text = json.dumps({MCP_SERVERS: {server_name: wanted}}, indent=2) + "\n"
            return "added", text
        current = doc.entry(server_name)
        if isinstance(current, dict) and isinstance(current.get("env"), dict) and not wanted.get("env"):
            wanted["env"] = current["env"]
        current_program = current.get("command") if isinstance(current, dict) else None
        if isinstance(current_program, str) and same_program(current_program, str(wanted["command"])):
            wanted["command"] = current_program  # e.g. venv/bin/python vs venv/bin/python3
        if current == wanted:
            return None
        return ("updated" if current is not None else "added"), doc.with_entry(server_name, wanted)

    return _edit(path, new_mode, transform)


def remove_server(path: Path, server_name: str, *, delete_if_empty: bool = False) -> Change:
    """Remove our entry only. With ``delete_if_empty`` a file left as ``{"mcpServers": {}}`` is deleted."""

    def transform(doc: Document | None) -> tuple[str, str] | None:
        if doc is None or server_name not in doc.servers():
            return None
        text = doc.without_entry(server_name)
        if delete_if_empty and json.loads(text) == {MCP_SERVERS: {}}:
            return "deleted", ""
        return "removed", text

    change = _edit(path, 0o600, transform)
    if change.action == "unchanged":
        return Change(path, "absent")
    return change


@dataclass(frozen=True)
class Registration:
    """Our entry as one scope's file has it: missing file, no entry, an entry, or an unreadable file."""

    scope: Scope
    path: Path
    exists: bool
    entry: Any = None
    error: str | None = None

    @property
    def registered(self) -> bool:
        return self.entry is not None

    def command(self) -> list[str] | None:
        """``[command, *args]`` of the entry, or None if the entry does not have that shape."""
        entry = self.entry
        if not isinstance(entry, dict) or not isinstance(entry.get("command"), str):
            return None
        args = entry.get("args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            return None
        return [entry["command"], *args]


def registration(
    scope: Scope, server_name: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Registration:
    path = config_path(scope, env, cwd)
    try:
        doc = load(path)
    except ConfigError as exc:
        return Registration(scope, path, True, error=str(exc))
    if doc is None:
        return Registration(scope, path, False)
    return Registration(scope, path, True, entry=doc.entry(server_name))


def local_scope_entry(server_name: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Any:
    """Claude Code's "local" scope: ``projects[<cwd>].mcpServers[server_name]`` in the user file."""
    try:
        doc = load(user_config_path(env))
    except ConfigError:
        return None
    if doc is None:
        return None
    projects = doc.data.get("projects")
    if not isinstance(projects, dict):
        return None
    project = projects.get(str(cwd or Path.cwd()))
    if not isinstance(project, dict) or not isinstance(project.get(MCP_SERVERS), dict):
        return None
    return project[MCP_SERVERS].get(server_name)
