"""Gemini CLI's settings files as the gemini adapter reads them: whether the agentbus hook is installed.

Gemini merges ``/etc/gemini-cli/settings.json``, ``~/.gemini/settings.json`` and the project's
``.gemini/settings.json``; ``agentbus enable gemini`` writes the hook into the user's file. The
adapter opens the hook door only when one of them runs the hook: without it no boundary would ever
ask for the mail, and presence must not say the session receives it.
"""

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

#: The module Gemini's hook command runs (hook.py); its name in a command marks the agentbus hook.
HOOK_MODULE = "agentbus.adapters.gemini.hook"
SYSTEM_SETTINGS = Path("/etc/gemini-cli/settings.json")


def settings_files(env: Mapping[str, str], cwd: Path) -> list[Path]:
    """Gemini's settings files for a session started in ``cwd``, system first, project last."""
    system = Path(env.get("GEMINI_CLI_SYSTEM_SETTINGS_PATH") or SYSTEM_SETTINGS)
    home = Path(env.get("HOME") or os.path.expanduser("~"))
    return [system, home / ".gemini" / "settings.json", cwd / ".gemini" / "settings.json"]


def hook_commands(settings: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(event, command) of every command hook in one settings object."""
    hooks = settings.get("hooks")
    for event, groups in hooks.items() if isinstance(hooks, dict) else ():
        for group in groups if isinstance(groups, list) else ():
            for hook in group.get("hooks", ()) if isinstance(group, dict) else ():
                if isinstance(hook, dict) and isinstance(hook.get("command"), str):
                    yield event, hook["command"]


def hooked_events(path: Path) -> set[str]:
    """The events for which the settings file at ``path`` runs the agentbus hook (a file with comments,
    which Gemini allows, is searched as text: every event, if the hook is named at all)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return set()
    try:
        settings = json.loads(text)
    except ValueError:
        return {"*"} if HOOK_MODULE in text else set()
    if not isinstance(settings, dict):
        return set()
    return {event for event, command in hook_commands(settings) if HOOK_MODULE in command}


def installed_hooks(env: Mapping[str, str], cwd: Path) -> dict[Path, set[str]]:
    """The settings files that run the agentbus hook, each with its events."""
    found = {path: hooked_events(path) for path in settings_files(env, cwd)}
    return {path: events for path, events in found.items() if events}
