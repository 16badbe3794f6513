"""Reading a tap's log (``fakeclaude.live.tap``): the wire both ways, signals, exit, on the tap's clocks.

Each record's ``t`` is seconds since the tap started; the first record holds the start on the wall
clock (``wall``) and on CLOCK_MONOTONIC (``mono``, shared by every process on the machine), so
``wall_at(t)`` compares with Claude Code's MCP log timestamps and ``mono_at(t)`` with
``time.monotonic()`` here.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TapLine:
    """One JSON-RPC line: ``direction`` "in" (client to server) or "out", its tap time, the message."""

    t: float
    direction: str
    text: str
    message: dict[str, Any] | None

    @property
    def method(self) -> str | None:
        return self.message.get("method") if self.message else None

    @property
    def id(self) -> Any:
        return self.message.get("id") if self.message else None

    def is_response_to(self, request_id: Any) -> bool:
        return self.message is not None and "method" not in self.message and self.message.get("id") == request_id


@dataclass
class TapLog:
    """The records of one tap run (one server process)."""

    path: Path
    records: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> "TapLog":
        records = []
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return cls(Path(path), records)

    @property
    def start(self) -> dict[str, Any]:
        return next(record for record in self.records if "wall" in record)

    @property
    def pid(self) -> int:
        return int(self.start["pid"])

    @property
    def env_names(self) -> list[str]:
        return list(self.start.get("env", []))

    def wall_at(self, t: float) -> float:
        return float(self.start["wall"]) + t - float(self.start["t"])

    def mono_at(self, t: float) -> float:
        return float(self.start["mono"]) + t - float(self.start["t"])

    def lines(self, direction: str | None = None) -> list[TapLine]:
        out = []
        for record in self.records:
            if "line" not in record or (direction is not None and record.get("dir") != direction):
                continue
            try:
                message = json.loads(record["line"])
            except ValueError:
                message = None
            out.append(TapLine(float(record["t"]), str(record["dir"]), record["line"], message))
        return out

    def first(self, direction: str, method: str) -> TapLine | None:
        return next((line for line in self.lines(direction) if line.method == method), None)

    def response_to(self, request: TapLine) -> TapLine | None:
        other = "out" if request.direction == "in" else "in"
        later = (line for line in self.lines(other) if line.t >= request.t)
        return next((line for line in later if line.is_response_to(request.id)), None)

    def signals(self) -> list[tuple[str, float]]:
        return [(str(record["signal"]), float(record["t"])) for record in self.records if "signal" in record]

    @property
    def exited(self) -> bool:
        """True if the tap ended by itself (a SIGKILLed tap leaves no ``tap_exit`` record)."""
        return any("tap_exit" in record for record in self.records)
