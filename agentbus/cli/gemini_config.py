"""Gemini CLI's settings (~/.gemini/settings.json): add or remove the agentbus MCP server and its hooks in place.

``enable`` adds ``mcpServers.agentbus`` and, for each boundary event (SessionStart, BeforeAgent,
AfterTool, AfterAgent), one hook group running the agentbus hook: a ``hooks`` member, an event's
member, or an item appended to an event's own list, whichever is missing. ``disable`` takes out
exactly what is ours (a group whose command runs the agentbus hook; the server entry) and the
members left empty by that, so enable then disable gives back the file byte for byte. The edits go
through claude_config's span-preserving document: every other byte stays as it was.
"""

import json
import os
import shlex
from pathlib import Path
from typing import Any

from agentbus.adapters.gemini.hook import EVENTS
from agentbus.adapters.gemini.settings import HOOK_MODULE, hook_commands
from agentbus.cli import claude_config as cc
from agentbus.cli.claude_config.files import edit
from agentbus.manifest import Manifest

HOOKS = "hooks"
#: Gemini waits this long for a hook (milliseconds); the hook itself gives up on its adapter after 5 s.
HOOK_TIMEOUT_MS = 10_000


def settings_path(env: dict[str, str] | None = None) -> Path:
    """``~/.gemini/settings.json`` of the user (HOME from ``env``, else this process's)."""
    home = (env or os.environ).get("HOME") or os.path.expanduser("~")
    return Path(home) / ".gemini" / "settings.json"


def server_entry(manifest: Manifest) -> dict[str, Any]:
    """The ``mcpServers`` entry that starts the adapter (absolute interpreter)."""
    entry = cc.server_entry(manifest.command)
    return {"command": entry["command"], "args": entry["args"]}


def hook_group(manifest: Manifest) -> dict[str, Any]:
    """The hook group ``enable`` adds to each boundary event."""
    command = list(manifest.hook_command)
    program = str(cc.server_entry(command)["command"]) if command else ""
    line = shlex.join([program, *command[1:]])
    return {"hooks": [{"type": "command", "name": "agentbus", "command": line, "timeout": HOOK_TIMEOUT_MS}]}


def _ours(group: Any) -> bool:
    """A hook group that runs the agentbus hook."""
    return any(HOOK_MODULE in command for _, command in hook_commands({HOOKS: {"_": [group]}}))


def state(path: Path, manifest: Manifest) -> str:
    """``enabled``, ``-`` (absent), ``partly`` (server or some hooks missing) or ``unreadable``."""
    try:
        doc = cc.load(path)
    except cc.ConfigError:
        return "unreadable"
    return "-" if doc is None else state_of(doc, manifest)


def state_of(doc: cc.Document, manifest: Manifest) -> str:
    """``state`` of a settings document already read."""
    server = doc.entry(manifest.server_name) is not None
    hooks = doc.data.get(HOOKS)
    hooks = hooks if isinstance(hooks, dict) else {}
    events = {event for event in EVENTS if isinstance(hooks.get(event), list) and any(map(_ours, hooks[event]))}
    if server and events == set(EVENTS):
        return "enabled"
    return "partly" if server or events else "-"


def _add_step(doc: cc.Document, manifest: Manifest) -> tuple[str, str] | None:
    """One edit toward the enabled file, or None when nothing is missing."""
    wanted = server_entry(manifest)
    current = doc.entry(manifest.server_name)
    if current is None or {k: current.get(k) for k in wanted} != wanted:
        return "server", doc.with_entry(manifest.server_name, {**(current or {}), **wanted})
    group = hook_group(manifest)
    hooks = doc.data.get(HOOKS)
    if hooks is None:
        return "hooks", doc.with_member((), HOOKS, {event: [group] for event in EVENTS})
    if not isinstance(hooks, dict):
        raise cc.ConfigError(f"{doc.path}: 'hooks' is not a JSON object; refusing to change it")
    for event in EVENTS:
        groups = hooks.get(event)
        if groups is None:
            return event, doc.with_member((HOOKS,), event, [group])
        if not isinstance(groups, list):
            raise cc.ConfigError(f"{doc.path}: 'hooks.{event}' is not a list; refusing to change it")
        mine = [index for index, item in enumerate(groups) if _ours(item)]
        if mine and groups[mine[0]] != group:
            return event, doc.without_item((HOOKS, event), mine[0])  # an older command: replaced next step
        if not mine:
            if not groups:
                return event, doc.without_member((HOOKS,), event)  # an empty list: our list replaces it
            return event, doc.with_item((HOOKS, event), group)
    return None


def _remove_step(doc: cc.Document, manifest: Manifest) -> str | None:
    """One edit toward the file without agentbus, or None when nothing of ours is left."""
    if doc.entry(manifest.server_name) is not None:
        text = doc.without_entry(manifest.server_name)
        if json.loads(text).get(cc.MCP_SERVERS) == {}:
            text = cc.Document(text, doc.path).without_member((), cc.MCP_SERVERS)
        return text
    hooks = doc.data.get(HOOKS)
    if not isinstance(hooks, dict):
        return None
    for event in EVENTS:
        groups = hooks.get(event)
        if not isinstance(groups, list):
            continue
        mine = [index for index, item in enumerate(groups) if _ours(item)]
        if mine:
            if len(groups) == 1:
                if len(hooks) == 1:
                    return doc.without_member((), HOOKS)
                return doc.without_member((HOOKS,), event)
            return doc.without_item((HOOKS, event), mine[-1])
    return None


def enable(path: Path, manifest: Manifest) -> cc.Change:
    """Add the server and the hooks that are missing (an older command of ours is replaced)."""

    def transform(doc: cc.Document | None) -> tuple[str, str] | None:
        current = doc or cc.Document("", path)
        changed = False
        for _ in range(4 * len(EVENTS) + 4):
            step = _add_step(current, manifest)
            if step is None:
                break
            current, changed = cc.Document(step[1], path), True
        if not changed:
            return None
        return ("updated" if doc is not None and state_of(doc, manifest) != "-" else "added"), current.text

    return edit(path, 0o600, transform)


def disable(path: Path, manifest: Manifest) -> cc.Change:
    """Take out the server and every hook group of ours, and what that leaves empty."""

    def transform(doc: cc.Document | None) -> tuple[str, str] | None:
        if doc is None:
            return None
        current, changed = doc, False
        for _ in range(4 * len(EVENTS) + 4):
            text = _remove_step(current, manifest)
            if text is None:
                break
            current, changed = cc.Document(text, path), True
        return ("removed", current.text) if changed else None

    change = edit(path, 0o600, transform)
    return cc.Change(path, "absent") if change.action == "unchanged" else change
