"""Bus.open_readonly: doctor's and the CLI's view of a bus, which never creates, migrates or changes it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ON_POSTGRES, sqlite_only

from agentbus.core import Bus, BusUnavailable, Settings
from agentbus.core.revisions import SCHEMA_HEAD


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def snapshot(directory: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(directory)): (p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else b"")
        for p in sorted(directory.rglob("*"))
    }


def test_a_readonly_bus_reads_without_reaping_or_writing(settings: Settings) -> None:
    with Bus(settings) as bus:
        bus.register("ghost", session_id="s1", adapter="test", pid=dead_pid())
        bus.register("alive", session_id="s2", adapter="test", pid=os.getpid())
        bus.send("alive", "ghost", "still there?")
    before = snapshot(settings.home)
    with Bus.open_readonly(settings) as view:
        assert view.schema_revision == SCHEMA_HEAD
        assert [p.name for p in view.peers()] == ["alive"]
        everyone = view.peers(include_stale=True)
        assert [(p.name, view.is_live(p)) for p in everyone] == [("alive", True), ("ghost", False)]
        assert [(s.recipient, s.pending) for s in view.mailbox_stats()] == [("ghost", 1)]
        with pytest.raises(BusUnavailable, match="open read-only"):
            view.send("alive", "ghost", "one more")
    if not ON_POSTGRES:
        assert snapshot(settings.home) == before, "the read-only view changed the bus directory"
    with Bus(settings) as bus:
        assert [p.name for p in bus.peers(include_stale=True)] == ["alive", "ghost"]
        assert len(bus.pending("ghost")) == 1


@sqlite_only
def test_a_missing_bus_is_not_created(tmp_path: Path) -> None:
    home = tmp_path / "nothing-here"
    with pytest.raises(BusUnavailable, match="there is no bus at"):
        Bus.open_readonly(Settings(home=home))
    assert not home.exists()
