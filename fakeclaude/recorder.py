"""The wire log: every JSON-RPC message both ways, with monotonic timestamps, plus junk lines."""

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

Direction = Literal["sent", "received"]
Kind = Literal["request", "response", "notification", "junk"]


@dataclass(frozen=True)
class WireRecord:
    """One line on the wire.

    ``direction`` is from fakeclaude's side: ``sent`` went to the adapter's stdin, ``received`` came
    from its stdout. ``at`` is ``time.monotonic()``. ``message`` is the parsed JSON-RPC object, or
    None for ``junk`` (a stdout line that is not a JSON-RPC message; ``note`` says why).
    """

    seq: int
    at: float
    direction: Direction
    kind: Kind
    raw: str
    message: dict[str, Any] | None = None
    note: str = ""

    @property
    def method(self) -> str | None:
        """The method of a request or notification, else None."""
        if self.message is None:
            return None
        method = self.message.get("method")
        return method if isinstance(method, str) else None

    @property
    def id(self) -> Any:
        """The JSON-RPC id of a request or response, else None."""
        return None if self.message is None else self.message.get("id")

    def describe(self, width: int = 200) -> str:
        """One line for humans: ``#3 +0.012s received notification: {...}``."""
        arrow = "->" if self.direction == "sent" else "<-"
        text = self.raw if len(self.raw) <= width else self.raw[:width] + "..."
        note = f" [{self.note}]" if self.note else ""
        return f"#{self.seq} {arrow} {self.kind}{note}: {text}"


def classify(message: Any) -> tuple[Kind, str]:
    """The kind of a parsed line, and a note when it is not valid JSON-RPC 2.0."""
    if not isinstance(message, dict):
        return "junk", f"JSON but not a JSON-RPC object ({type(message).__name__})"
    if message.get("jsonrpc") != "2.0":
        return "junk", "JSON object without jsonrpc: '2.0'"
    if "method" in message:
        if not isinstance(message["method"], str):
            return "junk", "method is not a string"
        return ("request", "") if "id" in message else ("notification", "")
    if "id" in message and ("result" in message or "error" in message):
        return "response", ""
    return "junk", "JSON-RPC object that is neither request, response nor notification"


class Recorder:
    """A thread-safe log of WireRecords that tests can read, filter, wait on and clear."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._records: list[WireRecord] = []
        self._seq = 0
        self.started_at = clock()

    def record(
        self,
        direction: Direction,
        raw: str,
        message: dict[str, Any] | None = None,
        kind: Kind | None = None,
        note: str = "",
    ) -> WireRecord:
        """Append one line; the kind is derived from the message unless given."""
        if kind is None:
            kind, derived = classify(message) if message is not None else ("junk", "not JSON")
            note = note or derived
        with self._lock:
            self._seq += 1
            rec = WireRecord(self._seq, self._clock(), direction, kind, raw, message, note)
            self._records.append(rec)
        return rec

    def record_sent(self, message: dict[str, Any], raw: str | None = None) -> WireRecord:
        """Record a message fakeclaude writes (``raw`` defaults to its compact JSON)."""
        text = raw if raw is not None else json.dumps(message, separators=(",", ":"))
        return self.record("sent", text, message)

    def record_received(self, line: bytes) -> WireRecord:
        """Record one line read from the adapter's stdout; junk (not UTF-8, not JSON, not an object) says why."""
        body = line[:-1] if line.endswith(b"\n") else line
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return self.record("received", body.decode("utf-8", errors="replace"), None, kind="junk", note="not UTF-8")
        try:
            message = json.loads(text)
        except ValueError:
            note = "empty line" if not text.strip() else "not JSON"
            return self.record("received", text, None, kind="junk", note=note)
        return self.record("received", text, message if isinstance(message, dict) else None)

    @property
    def records(self) -> list[WireRecord]:
        """A snapshot of every record since the last clear, oldest first."""
        with self._lock:
            return list(self._records)

    def __iter__(self) -> Iterator[WireRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def clear(self) -> None:
        """Forget every record (sequence numbers keep counting)."""
        with self._lock:
            self._records.clear()

    def messages(
        self,
        direction: Direction | None = None,
        method: str | None = None,
        kind: Kind | None = None,
    ) -> list[WireRecord]:
        """Records filtered by direction, method and kind (None means any)."""
        return [
            r
            for r in self.records
            if (direction is None or r.direction == direction)
            and (method is None or r.method == method)
            and (kind is None or r.kind == kind)
        ]

    def sent(self, method: str | None = None) -> list[WireRecord]:
        """Records fakeclaude sent, optionally only those of one method."""
        return self.messages("sent", method)

    def received(self, method: str | None = None) -> list[WireRecord]:
        """Records received from the adapter, optionally only those of one method."""
        return self.messages("received", method)

    def junk(self) -> list[WireRecord]:
        """Lines on the adapter's stdout that were not JSON-RPC messages."""
        return self.messages("received", kind="junk")

    def dump(self, last: int | None = None) -> str:
        """The log (or its last ``last`` records) as text, one line per record, times relative to start."""
        records = self.records
        if last is not None:
            records = records[-last:]
        lines = [f"+{r.at - self.started_at:.3f}s {r.describe()}" for r in records]
        return "\n".join(lines) if lines else "(no messages)"
