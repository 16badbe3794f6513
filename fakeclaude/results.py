"""What a session hands back: channel events, dropped events, findings, tool results, close results."""

import json
from dataclasses import dataclass
from typing import Any, Literal

from fakeclaude.recorder import WireRecord

#: How an event reached the session: a channel notification on stdio, or input through Codex's app-server.
Via = Literal["mcp-channel", "codex-app-server", "native", "gemini-hook"]


@dataclass(frozen=True)
class ChannelEvent:
    """A channel event that the client would show the model.

    ``meta`` is the meta object as received (key order kept, every value a string); ``rendered`` is
    the ``<channel>`` tag the model would see, which leaves out ``dropped_keys``. ``via`` says how it
    came: ``mcp-channel`` (``record`` is the notification on stdio), ``codex-app-server`` (``record``
    is the ``turn/start`` request in the fake app-server's log; ``meta`` are the tag's attributes
    but ``source``, ``content`` its body; ``received_at`` is when the app-server answered it) or
    ``native`` (a write to Claude Code's messaging socket: ``record`` holds the line as written,
    ``meta`` and ``content`` are read from its tag as for the app-server) or ``gemini-hook`` (a tag in
    what a Gemini CLI hook answered for the model: ``record`` holds the answer, ``received_at`` is when
    the hook exited).
    """

    content: str
    meta: dict[str, str]
    rendered: str
    received_at: float
    dropped_keys: tuple[str, ...]
    record: WireRecord
    via: Via = "mcp-channel"

    @property
    def sender(self) -> str | None:
        """``meta["from"]``, if present."""
        return self.meta.get("from")


@dataclass(frozen=True)
class DroppedEvent:
    """A channel notification that reached the wire but that Claude Code would not show the model."""

    params: Any
    reason: str
    received_at: float
    record: WireRecord


@dataclass(frozen=True)
class Finding:
    """Something an adapter did wrong (``severity`` "violation") or that loses data ("warning")."""

    kind: str
    detail: str
    at: float
    severity: Literal["violation", "warning"] = "violation"
    record: WireRecord | None = None

    def describe(self) -> str:
        """One line for humans."""
        where = f" (wire #{self.record.seq})" if self.record is not None else ""
        return f"{self.severity} {self.kind}: {self.detail}{where}"


@dataclass(frozen=True)
class ToolResult:
    """The result of a tools/call: error flag, joined text content, structured content, raw result."""

    is_error: bool
    text: str
    structured: Any
    content: list[Any]
    raw: dict[str, Any]

    def json(self) -> Any:
        """``structured`` if the tool returned structured content, else the text parsed as JSON."""
        if self.structured is not None:
            return self.structured
        return json.loads(self.text)


@dataclass(frozen=True)
class CloseResult:
    """How the adapter ended after fakeclaude closed its stdin (or killed it)."""

    exit_code: int | None
    exited: bool
    seconds_to_exit: float | None
    killed: bool
    timeout: float
    already_exited: bool = False

    def describe(self) -> str:
        """One line for humans, e.g. ``exited with code 0 0.041s after stdin EOF``."""
        if self.already_exited:
            return f"had already exited with code {self.exit_code} before stdin was closed"
        if self.exited:
            return f"exited with code {self.exit_code} {self.seconds_to_exit:.3f}s after stdin EOF"
        if self.killed:
            return f"did not exit within {self.timeout:g}s of stdin EOF; killed (code {self.exit_code})"
        return "was killed"


@dataclass(frozen=True)
class ShutdownResult:
    """How the adapter ended under the client's shutdown sequence (``Session.shutdown``)."""

    exit_code: int | None
    signals: tuple[str, ...]
    seconds: float

    @property
    def needed_kill(self) -> bool:
        """True if the adapter was still running when the client's SIGKILL came."""
        return "SIGKILL" in self.signals

    def describe(self) -> str:
        taken = ", ".join(self.signals) or "no signal (it had exited)"
        return f"exit code {self.exit_code} {self.seconds:.3f}s into the shutdown, after {taken}"
