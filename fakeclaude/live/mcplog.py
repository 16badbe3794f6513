"""Claude Code's MCP log of one server, parsed into typed entries: our window into what the real client did.

Claude Code writes ``~/.cache/claude-cli-nodejs/<project key>/mcp-logs-<server>/<start time>.jsonl``,
one ``{"debug" | "error": text, "timestamp", "sessionId", "cwd"}`` object per line, per session.
``parse_entry`` turns a line into ``Connected(ms)`` ("Successfully connected (transport: stdio) in
944ms"), ``ChannelsRegistered``, ``ChannelNotification``, ``ToolCalling(tool)``, ``ToolCompleted(tool,
ms)`` ("Tool 'send_message' completed successfully in 67ms"; "1s" and "1m 2s" are read too),
``ShutdownStep(signal, escalated)`` ("Sending SIGINT...", "SIGINT failed, sending SIGTERM...",
"SIGTERM failed, sending SIGKILL..."), or a plain ``LogEntry``. ``McpLog`` reads a directory and
waits for an entry with a deadline.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from fakeclaude.waiting import wait_until

CONNECTED = re.compile(r"^Successfully connected \(transport: (\w+)\) in (\d+)ms")
TOOL_CALLING = re.compile(r"^Calling MCP tool: (.+)$")
TOOL_DONE = re.compile(r"^Tool '(.+?)' completed successfully in (?:(\d+)m )?(?:(\d+)s|(\d+)ms)$")
SENDING_SIGINT = "Sending SIGINT to MCP server process"
ESCALATION = re.compile(r"^(SIGINT|SIGTERM) failed, sending (SIGTERM|SIGKILL) to MCP server process")
CHANNEL_NOTE = "notifications/claude/channel"


@dataclass(frozen=True)
class LogEntry:
    """One line of the MCP log: its text, level ("debug" or "error"), time and session."""

    message: str
    level: str
    at: datetime
    session_id: str
    raw: dict[str, Any]

    @property
    def epoch(self) -> float:
        """The timestamp as seconds since the epoch (millisecond precision)."""
        return self.at.timestamp()


@dataclass(frozen=True)
class Connected(LogEntry):
    """The transport is up and the handshake done, ``ms`` after Claude Code started the server."""

    ms: int = 0
    transport: str = "stdio"


@dataclass(frozen=True)
class ChannelsRegistered(LogEntry):
    """Claude Code now listens for this server's channel events (events written earlier are lost)."""


@dataclass(frozen=True)
class ChannelNotification(LogEntry):
    """A channel event Claude Code received ("notifications/claude/channel: text" or "(N chars)")."""


@dataclass(frozen=True)
class ToolCalling(LogEntry):
    """Claude Code is calling ``tool`` (the server's own name, without ``mcp__server__``)."""

    tool: str = ""


@dataclass(frozen=True)
class ToolCompleted(LogEntry):
    """``tool`` answered successfully after ``ms`` milliseconds (Claude Code's own measure)."""

    tool: str = ""
    ms: int = 0


@dataclass(frozen=True)
class ShutdownStep(LogEntry):
    """A signal sent to the server; ``escalated`` when the previous one did not end it in time."""

    signal: str = "SIGINT"
    escalated: bool = False


E = TypeVar("E", bound=LogEntry)


def parse_entry(raw: dict[str, Any]) -> LogEntry:
    """The typed entry of one decoded log line."""
    level = "error" if "error" in raw else "debug"
    message = str(raw.get(level, ""))
    stamp = str(raw.get("timestamp", "1970-01-01T00:00:00Z")).replace("Z", "+00:00")
    base: dict[str, Any] = {
        "message": message,
        "level": level,
        "at": datetime.fromisoformat(stamp),
        "session_id": str(raw.get("sessionId", "")),
        "raw": raw,
    }
    if match := CONNECTED.match(message):
        return Connected(**base, ms=int(match.group(2)), transport=match.group(1))
    if message == "Channel notifications registered":
        return ChannelsRegistered(**base)
    if message.startswith(CHANNEL_NOTE):
        return ChannelNotification(**base)
    if match := TOOL_CALLING.match(message):
        return ToolCalling(**base, tool=match.group(1))
    if match := TOOL_DONE.match(message):
        minutes, seconds, millis = (int(group) if group else 0 for group in match.groups()[1:])
        return ToolCompleted(**base, tool=match.group(1), ms=millis + 1000 * seconds + 60_000 * minutes)
    if message == SENDING_SIGINT:
        return ShutdownStep(**base, signal="SIGINT", escalated=False)
    if match := ESCALATION.match(message):
        return ShutdownStep(**base, signal=match.group(2), escalated=True)
    return LogEntry(**base)


def read_entries(path: Path) -> list[LogEntry]:
    """Every complete line of one log file (a line still being written is left for later)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    entries = []
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            break
        try:
            raw = json.loads(line)
        except ValueError:
            continue
        if isinstance(raw, dict):
            entries.append(parse_entry(raw))
    return entries


@dataclass
class McpLog:
    """The MCP log directory of one server in one project; ``session_id`` narrows it to one session.

    ``locate``, if given, finds the directory again on each read (it may not exist yet).
    """

    directory: Path
    session_id: str | None = None
    locate: Callable[[], Path] | None = None

    def files(self) -> list[Path]:
        if self.locate is not None:
            self.directory = self.locate()
        return sorted(self.directory.glob("*.jsonl")) if self.directory.is_dir() else []

    def entries(self) -> list[LogEntry]:
        found = [entry for path in self.files() for entry in read_entries(path)]
        if self.session_id is not None:
            found = [entry for entry in found if entry.session_id == self.session_id]
        return found

    def of(self, kind: type[E]) -> list[E]:
        return [entry for entry in self.entries() if isinstance(entry, kind)]

    def wait_for(
        self, kind: type[E], timeout: float, predicate: Callable[[E], bool] | None = None, what: str = ""
    ) -> E:
        """The first entry of ``kind`` (matching ``predicate``); TimeoutError after ``timeout`` seconds.

        Claude Code appends to the log lazily (lines can land a second after the event they stamp).
        """

        def found() -> E | None:
            return next((e for e in self.of(kind) if predicate is None or predicate(e)), None)

        what = f"{what or kind.__name__} in Claude Code's MCP log {self.directory}"
        return wait_until(found, timeout, what, describe=lambda: f"it says:\n{self.describe(15) or '  (nothing)'}")

    # ------------------------------------------------------------------ summaries

    def connect_ms(self) -> int | None:
        connected = self.of(Connected)
        return connected[-1].ms if connected else None

    def tool_times(self, tool: str | None = None) -> list[int]:
        return [entry.ms for entry in self.of(ToolCompleted) if tool is None or entry.tool == tool]

    def escalations(self) -> list[ShutdownStep]:
        """ "SIGINT failed, sending SIGTERM" / "SIGTERM failed, sending SIGKILL": the server was slow to go."""
        return [entry for entry in self.of(ShutdownStep) if entry.escalated]

    def errors(self) -> list[LogEntry]:
        return [entry for entry in self.entries() if entry.level == "error"]

    def describe(self, last: int = 30) -> str:
        return "\n".join(f"  {e.at.isoformat()} [{e.level}] {e.message[:200]}" for e in self.entries()[-last:])
