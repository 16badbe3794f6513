"""The JSON-RPC client of a session: request ids, writes (logged first), pending requests and their answers."""

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fakeclaude.errors import AdapterExited, RequestTimeout
from fakeclaude.recorder import Recorder, WireRecord


@dataclass
class Pending:
    """A request written and not answered yet (``response`` is set by the reader thread)."""

    method: str
    response: dict[str, Any] | None = None


class JsonRpcClient:
    """Numbers requests as Claude Code does (from 0), writes them and waits for their responses.

    Every write is logged in ``recorder`` before it is written, under one lock, so the log's order
    is the wire's. ``cond`` is the session's Condition: the reader thread stores a response in its
    ``Pending`` and notifies it. ``closed()`` is true once the adapter closed its stdout;
    ``exit_hint()`` says how it ended, for errors.
    """

    def __init__(
        self,
        cond: threading.Condition,
        recorder: Recorder,
        write_bytes: Callable[[bytes], None],
        closed: Callable[[], bool],
        exit_hint: Callable[[], str],
    ) -> None:
        self.cond = cond
        self.recorder = recorder
        self.pending: dict[Any, Pending] = {}
        self._write_bytes = write_bytes
        self._closed = closed
        self._exit_hint = exit_hint
        self._write_lock = threading.Lock()
        self._next_id = -1  # the first request is id 0, as Claude Code numbers them

    def new_id(self) -> int:
        """The next request id."""
        with self.cond:
            self._next_id += 1
            return self._next_id

    # ----------------------------------------------------------------- writing

    def write(self, message: dict[str, Any]) -> WireRecord:
        """Log and write one message (compact JSON, one line)."""
        raw = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
        with self._write_lock:
            record = self.recorder.record_sent(message, raw)
            self._send(raw.encode("utf-8") + b"\n")
        return record

    def write_together(self, messages: list[dict[str, Any]]) -> None:
        """Several messages in one write (Claude Code sends initialized and tools/list so)."""
        raws = [json.dumps(m, separators=(",", ":"), ensure_ascii=False) for m in messages]
        with self._write_lock:
            for message, raw in zip(messages, raws, strict=True):
                self.recorder.record_sent(message, raw)
            self._send("".join(raw + "\n" for raw in raws).encode("utf-8"))

    def send_raw(self, line: str | bytes, newline: bool = True) -> WireRecord:
        """Write bytes as they are (malformed input welcome); a newline is appended unless present."""
        data = line.encode("utf-8") if isinstance(line, str) else line
        if newline and not data.endswith(b"\n"):
            data += b"\n"
        text = data.decode("utf-8", errors="replace").rstrip("\n")
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            parsed = None
        with self._write_lock:
            if isinstance(parsed, dict):
                record = self.recorder.record("sent", text, parsed)
            else:
                record = self.recorder.record("sent", text, None, kind="junk", note="sent raw")
            self._send(data)
        return record

    def _send(self, data: bytes) -> None:
        try:
            self._write_bytes(data)
        except (BrokenPipeError, ConnectionResetError, ValueError) as exc:
            raise AdapterExited(f"cannot write to the adapter's stdin ({exc}); {self._exit_hint()}") from exc

    # ----------------------------------------------------------------- requests

    def expect(self, msg_id: Any, method: str) -> None:
        """Open a pending request for ``msg_id`` (before its message is written)."""
        with self.cond:
            self.pending[msg_id] = Pending(method)

    def roundtrip(self, message: dict[str, Any], deadline: float) -> dict[str, Any]:
        """Write a request and return its response; AdapterExited or RequestTimeout."""
        self.expect(message["id"], str(message["method"]))
        self.write(message)
        return self.await_response(message["id"], deadline)

    def await_response(self, msg_id: Any, deadline: float) -> dict[str, Any]:
        """The response to the pending request ``msg_id`` by ``deadline``; it is no longer pending after."""
        with self.cond:
            pending = self.pending[msg_id]
            while pending.response is None:
                if self._closed():
                    del self.pending[msg_id]
                    raise AdapterExited(f"no response to {pending.method} (id {msg_id!r}): {self._exit_hint()}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    del self.pending[msg_id]
                    raise RequestTimeout(f"no response to {pending.method} (id {msg_id!r}) in time")
                self.cond.wait(remaining)
            del self.pending[msg_id]
            return pending.response

    def open_request(self, msg_id: Any) -> Pending | None:
        """The pending request a response with ``msg_id`` answers (call with ``cond`` held), or None."""
        pending = self.pending.get(msg_id)
        return pending if pending is not None and pending.response is None else None
