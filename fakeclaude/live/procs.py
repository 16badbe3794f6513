"""Processes under a live Claude Code, read from /proc: its descendants, the adapter among them, RSS, liveness."""

import os
from dataclasses import dataclass
from pathlib import Path

ADAPTER_MODULE = "agentbus.adapters.claude_mcp"
TAP_MODULE = "fakeclaude.live.tap"


@dataclass(frozen=True)
class Proc:
    """One process: pid, parent pid and argv."""

    pid: int
    ppid: int
    argv: tuple[str, ...]


def read_proc(pid: int) -> Proc | None:
    base = Path("/proc") / str(pid)
    try:
        stat = (base / "stat").read_text()
        argv = tuple(a.decode("utf-8", "replace") for a in (base / "cmdline").read_bytes().split(b"\0") if a)
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return Proc(pid, ppid, argv)


def all_procs() -> list[Proc]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and (proc := read_proc(int(name))) is not None:
            found.append(proc)
    return found


def descendants(pid: int) -> list[Proc]:
    """Every process below ``pid`` (children first, then theirs)."""
    procs = all_procs()
    children: dict[int, list[Proc]] = {}
    for proc in procs:
        children.setdefault(proc.ppid, []).append(proc)
    out: list[Proc] = []
    queue = [pid]
    while queue:
        for child in children.get(queue.pop(0), []):
            out.append(child)
            queue.append(child.pid)
    return out


def runs_module(proc: Proc, module: str) -> bool:
    """``python ... -m module ...`` as the process's own program (not as an argument after ``--``)."""
    argv = list(proc.argv)
    head = argv[: argv.index("--")] if "--" in argv else argv
    return any(head[i] == "-m" and head[i + 1] == module for i in range(len(head) - 1))


def find_adapter(claude_pid: int, module: str = ADAPTER_MODULE) -> Proc | None:
    """The adapter process Claude Code started (through a tap or not), or None."""
    return next((proc for proc in descendants(claude_pid) if runs_module(proc, module)), None)


def find_tap(claude_pid: int) -> Proc | None:
    return next((proc for proc in descendants(claude_pid) if runs_module(proc, TAP_MODULE)), None)


def rss_kib(pid: int) -> int | None:
    """VmRSS of ``pid`` in KiB (``/proc/PID/status``), None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a killed child its parent has not reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
