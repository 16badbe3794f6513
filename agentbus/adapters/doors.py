"""Doors: the ways a message can reach a live session's model, and which ones this session opens.

A door is how an adapter hands its client a message for the model (SPEC section 8, DOOR rules):

- ``native``: Claude Code's own messaging socket. Every stdio MCP server a Claude Code 2.1.224+
  session starts gets ``CLAUDE_CODE_MESSAGING_SOCKET`` and ``CLAUDE_CODE_MESSAGING_TOKEN``; a write
  there becomes input of that session, with no flag and no special launch.
- ``channel``: ``notifications/claude/channel`` on the MCP wire. Claude Code drops them unless it
  was started with ``--dangerously-load-development-channels server:agentbus`` (or ``--channels``),
  and it never tells the server which.
- ``app-server``: user input of a Codex thread through the Codex app-server that runs it.
- ``hook``: Gemini CLI's hooks. Gemini runs the agentbus hook command at its boundaries (after a
  tool call, at the end of a turn, at a prompt, at session start) and hands the model what it
  answers; nothing reaches a session idle between turns (adapters/gemini/boundary.py).
- ``pull``: no door; the model fetches its mail with ``read_messages``.

``AGENTBUS_PUSH`` is the one setting: ``auto`` (default) opens every door the client offers, best
first; a door's name opens that door alone (or none, if the client did not offer it); ``off``
(or ``pull``) opens none; ``on`` is the runtime's push door even where the client looks unable to
hear it (``channel`` for claude-mcp, ``app-server`` for codex, ``hook`` for gemini).

The claude-mcp order is native, then channel: a native write is kept even when it arrives before
the session is ready, needs no flag, and passes the bypass-permissions hold (Claude Code accepts
input its own child process wrote); the channel is the fallback for a message the socket refused.
"""

import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

NATIVE = "native"
CHANNEL = "channel"
APP_SERVER = "app-server"
HOOK = "hook"
PULL = "pull"
DOORS = (NATIVE, CHANNEL, APP_SERVER, HOOK, PULL)

SOCKET_VARIABLE = "CLAUDE_CODE_MESSAGING_SOCKET"
TOKEN_VARIABLE = "CLAUDE_CODE_MESSAGING_TOKEN"  # noqa: S105 - the variable's name, not a token
CHANNEL_FLAGS = ("--dangerously-load-development-channels", "--channels")
ANCESTORS_CHECKED = 3
_ON = ("on", "1", "true", "yes", "push")
_OFF = ("off", "0", "false", "no", PULL)


class DoorClosed(Exception):
    """A door did not take a message: it goes through the next open door, or stays pending."""


@dataclass(frozen=True)
class Plan:
    """The doors a session opens, best first (empty: pull only), and a sentence saying why."""

    doors: tuple[str, ...]
    reason: str

    @property
    def push(self) -> bool:
        return bool(self.doors)

    @property
    def door(self) -> str:
        """The door presence shows: the best one, or ``pull``."""
        return self.doors[0] if self.doors else PULL


def setting(choice: str) -> str:
    """AGENTBUS_PUSH normalised: ``auto``, ``on``, ``off`` or a door's name (an unknown value is ``auto``)."""
    if choice in _ON:
        return "on"
    if choice in _OFF:
        return "off"
    if choice == "auto" or choice in DOORS:
        return choice
    log.warning("AGENTBUS_PUSH=%r is not one of auto, on, off, %s; using auto", choice, ", ".join(DOORS))
    return "auto"


@dataclass(frozen=True)
class NativeSocket:
    """Claude Code's messaging socket and the token that authenticates a write to it."""

    path: Path
    token: str


def native_socket(env: Mapping[str, str]) -> NativeSocket | None:
    """The native door the client opened for this process, if any."""
    path, token = env.get(SOCKET_VARIABLE, ""), env.get(TOKEN_VARIABLE, "")
    return NativeSocket(Path(path), token) if path and token else None


def claude_plan(choice: str, env: Mapping[str, str], parent: int | None = None) -> Plan:
    """The claude-mcp adapter's doors. ``choice``: AGENTBUS_PUSH; ``env``: this process's environment;
    ``parent``: the pid whose ancestry tells whether Claude Code was started with channels (default: ours)."""
    choice = setting(choice)
    native = native_socket(env) is not None
    if choice == "off":
        return Plan((), "AGENTBUS_PUSH is off, so messages are not pushed to this session")
    if choice in ("on", CHANNEL):
        return Plan((CHANNEL,), f"AGENTBUS_PUSH is {choice}: Claude Code channel events")
    if choice == NATIVE:
        if native:
            return Plan((NATIVE,), "AGENTBUS_PUSH is native: Claude Code's messaging socket")
        return Plan((), f"AGENTBUS_PUSH is native but the client gave this server no {SOCKET_VARIABLE}")
    if choice == APP_SERVER:
        return Plan((), "AGENTBUS_PUSH is app-server, a Codex door; this session is not Codex's")
    if choice == HOOK:
        return Plan((), "AGENTBUS_PUSH is hook, a Gemini CLI door; this session is not Gemini's")
    channel, why = _channel_heard(os.getppid() if parent is None else parent)
    if native:
        doors = (NATIVE, CHANNEL) if channel else (NATIVE,)
        return Plan(doors, "Claude Code's messaging socket" + (" (channel events as fallback)" if channel else ""))
    if channel:
        return Plan((CHANNEL,), why)
    return Plan((), why)


def _channel_heard(parent: int) -> tuple[bool, str]:
    """Whether channel events would reach the model, from the command line of the Claude Code above us:
    a Claude Code without a channels flag drops them; any other client is taken to hear them."""
    for argv in _ancestor_commands(parent):
        if not _is_claude_code(argv):
            continue
        if _has_channel_flag(argv):
            return True, "Claude Code was started with channels enabled"
        return False, (
            "this Claude Code gives its servers no messaging socket (2.1.224 or newer does) and was started "
            "without --dangerously-load-development-channels server:agentbus, so it would drop pushed messages"
        )
    return True, "the client is not a Claude Code started without channels: channel events"


def _is_claude_code(argv: list[str]) -> bool:
    """``claude ...`` (native build) or ``node .../@anthropic-ai/claude-code/cli.js ...``."""
    head = argv[:2]
    return any(Path(arg).name in ("claude", "claude.exe") or "claude-code" in arg for arg in head)


def _has_channel_flag(argv: list[str]) -> bool:
    return any(arg == flag or arg.startswith(flag + "=") for arg in argv for flag in CHANNEL_FLAGS)


def _ancestor_commands(pid: int) -> Iterator[list[str]]:
    for _ in range(ANCESTORS_CHECKED):
        if pid <= 1:
            return
        found = process_info(pid)
        if found is None:
            return
        argv, parent = found
        yield argv
        pid = parent


def process_info(pid: int) -> tuple[list[str], int] | None:
    """(argv, parent pid) of a process, or None if it cannot be read."""
    proc = Path("/proc") / str(pid)
    if sys.platform.startswith("linux"):
        try:
            argv = [a.decode("utf-8", "replace") for a in (proc / "cmdline").read_bytes().split(b"\0") if a]
            stat = (proc / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return None
        return argv, parent
    try:
        out = subprocess.run(
            ["ps", "-o", "ppid=", "-o", "command=", "-p", str(pid)],  # noqa: S607 - ps from PATH, as a user runs it
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        ).stdout.strip()
        parent_text, _, command = out.partition(" ")
        return command.split(), int(parent_text)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
