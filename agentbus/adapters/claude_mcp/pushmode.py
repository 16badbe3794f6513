"""Whether pushed channel events can reach the model, or this session must pull (read_messages).

Claude Code connects a configured channel server and runs its tools even when it was started without
``--dangerously-load-development-channels server:agentbus`` (or ``--channels``), but then drops every
channel event without telling the server. Pushing there would mark messages delivered that nobody
ever sees. So unless AGENTBUS_PUSH says otherwise (``on``/``off``; default ``auto``), the adapter
looks at the Claude Code process that started it: a Claude Code without a channels flag gets no
pushes, and its messages wait for read_messages. Any other client (one that is not recognisably
Claude Code) gets pushes.
"""

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CHANNEL_FLAGS = ("--dangerously-load-development-channels", "--channels")
ANCESTORS_CHECKED = 3
_ON = ("on", "1", "true", "yes", "push")
_OFF = ("off", "0", "false", "no", "pull")


@dataclass(frozen=True)
class PushMode:
    """The decision and a sentence saying why (whoami shows it when pushing is off)."""

    push: bool
    reason: str


def decide(choice: str, parent: int | None = None) -> PushMode:
    """``choice`` is Settings.push (AGENTBUS_PUSH); ``parent`` the pid whose ancestry is read (default: ours)."""
    if choice in _ON:
        return PushMode(True, "AGENTBUS_PUSH is on")
    if choice in _OFF:
        return PushMode(False, "AGENTBUS_PUSH is off, so messages are not pushed to this session")
    if choice != "auto":
        log.warning("AGENTBUS_PUSH=%r is not one of auto, on, off; using auto", choice)
    for argv in _ancestor_commands(os.getppid() if parent is None else parent):
        if not _is_claude_code(argv):
            continue
        if _has_channel_flag(argv):
            return PushMode(True, "Claude Code was started with channels enabled")
        return PushMode(
            False,
            "this Claude Code session was started without --dangerously-load-development-channels "
            "server:agentbus, so it would drop pushed messages",
        )
    return PushMode(True, "the client is not a Claude Code started without channels")


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
        found = _process_info(pid)
        if found is None:
            return
        argv, parent = found
        yield argv
        pid = parent


def _process_info(pid: int) -> tuple[list[str], int] | None:
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
            ["ps", "-o", "ppid=", "-o", "command=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        ).stdout.strip()
        parent_text, _, command = out.partition(" ")
        return command.split(), int(parent_text)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
