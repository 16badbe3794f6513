"""Our server's entry: building it, adding or removing it in a file, and finding it in each scope."""

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentbus.cli.claude_config.document import MCP_SERVERS, ConfigError, Document
from agentbus.cli.claude_config.files import Change, Scope, config_path, edit, load, user_config_path


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

    return edit(path, new_mode, transform)


def remove_server(path: Path, server_name: str, *, delete_if_empty: bool = False) -> Change:
    """Remove our entry only. With ``delete_if_empty`` a file left as ``{"mcpServers": {}}`` is deleted."""

    def transform(doc: Document | None) -> tuple[str, str] | None:
        if doc is None or server_name not in doc.servers():
            return None
        text = doc.without_entry(server_name)
        if delete_if_empty and json.loads(text) == {MCP_SERVERS: {}}:
            return "deleted", ""
        return "removed", text

    change = edit(path, 0o600, transform)
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
