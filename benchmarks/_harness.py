"""Shared pieces of the benchmarks: real adapters through fakeclaude, /proc readings, figures with targets."""

import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentbus.core import Bus, Settings
from fakeclaude import ChannelEvent, Sandbox, Session, profiles
from fakeclaude.waiting import wait_until

#: Throughput runs lift the per-sender rate limit (default 600/min), or it would be what is measured.
NO_RATE_LIMIT = {"AGENTBUS_RATE_LIMIT_PER_MINUTE": "0"}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def header(title: str, *, rate_limit_off: bool = False) -> None:
    """What runs where: cores, load, Python; and whether the rate limit is off."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"== {title}")
    print(f"   {os.cpu_count()} cores, load average {load}, Python {sys.version.split()[0]}")
    print(f"   requests shaped as {CLIENT.id} sends them (fakeclaude profile; tools/call with _meta)")
    if rate_limit_off:
        print("   AGENTBUS_RATE_LIMIT_PER_MINUTE=0 for this run (the per-sender limit is off)")


@dataclass
class Figure:
    """One measured figure and its target; ``higher`` says which way is better."""

    name: str
    value: float
    unit: str
    target: float | None = None
    higher: bool = False
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        ok = self.value >= self.target if self.higher else self.value < self.target
        return "PASS" if ok else "MISS"

    def line(self) -> str:
        target = ""
        if self.target is not None:
            target = f"  (target {'>=' if self.higher else '<'} {self.target:g} {self.unit})  {self.verdict}"
        note = f"  [{self.note}]" if self.note else ""
        return f"   {self.name:<46} {self.value:>10.2f} {self.unit:<6}{target}{note}"


def report(figures: Iterable[Figure]) -> list[Figure]:
    shown = list(figures)
    for figure in shown:
        print(figure.line())
    return shown


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def backend_line(db_url: str | None) -> None:
    """Which bus the run uses: the SQLite file, or the PostgreSQL URL (its trigger: pg-notify)."""
    print(f"   bus: {'PostgreSQL ' + db_url if db_url else 'SQLite (WAL), file-watch trigger'}")


def summary(values: Sequence[float]) -> str:
    return (
        f"n={len(values)} min={min(values):.2f} p50={percentile(values, 50):.2f} "
        f"p90={percentile(values, 90):.2f} p99={percentile(values, 99):.2f} max={max(values):.2f} "
        f"mean={statistics.fmean(values):.2f}"
    )


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    """VmRSS of a process in MB, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class Inbox:
    """Channel events of one session, recorded from the reader thread as they arrive."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.arrivals: dict[str, float] = {}  # content -> received_at (monotonic)
        self.duplicates: list[str] = []
        self.count = 0

    def __call__(self, event: ChannelEvent) -> None:
        with self.lock:
            if event.content in self.arrivals:
                self.duplicates.append(event.content)
            else:
                self.arrivals[event.content] = event.received_at
            self.count += 1
            self.lock.notify_all()

    def wait_for(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` distinct messages arrived; False at the deadline."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.arrivals) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.lock.wait(remaining)
        return True

    def wait_content(self, content: str, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        with self.lock:
            while content not in self.arrivals:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.lock.wait(remaining)
            return self.arrivals[content]


@dataclass
class Bench:
    """A sandbox of real adapters (no 'claude' stand-in process: the adapter is the measured pid)."""

    env: dict[str, str] = field(default_factory=dict)
    sandbox: Sandbox = field(default_factory=lambda: Sandbox(close_timeout=5.0))
    inboxes: dict[str, Inbox] = field(default_factory=dict)
    #: AGENTBUS_DB_URL for every adapter (PostgreSQL); None: the sandbox's SQLite bus.
    db_url: str | None = None

    def __post_init__(self) -> None:
        if self.db_url:
            self.env = {**self.env, "AGENTBUS_DB_URL": self.db_url}
        Bus.open(self.settings).close()

    @property
    def settings(self) -> Settings:
        """The bus the adapters share, for reading it from the harness."""
        return Settings(home=self.sandbox.bus_home, db_url=self.db_url)

    def start(self, *names: str, timeout: float = 60.0) -> list[Session]:
        """Start peers in parallel, each with an Inbox recording its channel events, and return once
        every one pushes: an adapter pushes 0.5 s after its tools/list answer (SPEC MCP-8), and mail
        sent before that waits for it, which is the start-up, not the steady state measured here."""
        sessions = []
        for name in names:
            inbox = self.inboxes.setdefault(name, Inbox())
            session = self.sandbox.session(name, env=self.env, as_claude=False, on_channel=inbox)
            sessions.append(session.launch())
        opened = [session.open(timeout) for session in sessions]
        with Bus.open_readonly(self.settings) as bus:

            def not_pushing() -> set[str]:
                return set(names) - {peer.name for peer in bus.peers() if peer.can_push}

            wait_until(
                lambda: not not_pushing(),
                timeout,
                "every peer to push",
                describe=lambda: "not pushing yet: " + ", ".join(sorted(not_pushing())),
            )
        return opened

    def close(self) -> None:
        self.sandbox.close_all()

    def __enter__(self) -> "Bench":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: The client whose requests the benchmarks send (its recorded shapes: fakeclaude/profiles).
CLIENT = profiles.load()


def tools_call_line(request_id: str | int, name: str, arguments: dict[str, Any]) -> str:
    """A tools/call as the real Claude Code writes it: key order and ``_meta`` (toolUseId, progressToken)."""
    return json.dumps(CLIENT.tools_call_request(request_id, name, arguments), separators=(",", ":"))


def results_by_id(session: Session, prefix: str) -> dict[str, dict[str, Any]]:
    """Tool results of raw (pipelined) requests whose id starts with ``prefix``."""
    found = {}
    for record in session.recorder.received():
        if record.kind == "response" and isinstance(record.id, str) and record.id.startswith(prefix):
            found[record.id] = record.message or {}
    return found
