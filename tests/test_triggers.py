"""Triggers with real watchdog events and real threads: a wake from another process arrives."""

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers.waiting import wait_until

from agentbus.core import Settings
from agentbus.triggers import FileWatchTrigger, PollTrigger, make_trigger


def test_file_watch_wakes_on_notify_from_another_process(tmp_path: Path) -> None:
    trigger = FileWatchTrigger(tmp_path / "wake")
    wakes = threading.Semaphore(0)
    dispose = trigger.arm("bob", wakes.release)
    try:
        code = (
            "import sys; from pathlib import Path; from agentbus.triggers import FileWatchTrigger; "
            "FileWatchTrigger(Path(sys.argv[1])).notify('bob')"
        )
        subprocess.run([sys.executable, "-c", code, str(tmp_path / "wake")], check=True, timeout=30)
        assert wakes.acquire(timeout=5), "no wake arrived"
    finally:
        dispose()


def test_file_watch_ignores_other_peers_wake_files(tmp_path: Path) -> None:
    trigger = FileWatchTrigger(tmp_path / "wake")
    bob_wakes, carol_wakes = threading.Semaphore(0), threading.Semaphore(0)
    dispose_bob = trigger.arm("bob", bob_wakes.release)
    dispose_carol = trigger.arm("carol", carol_wakes.release)
    try:
        trigger.notify("carol")
        assert carol_wakes.acquire(timeout=5)
        trigger.notify("bob")
        assert bob_wakes.acquire(timeout=5)
        # carol saw no event for bob's file: only her own wakes are counted
        while carol_wakes.acquire(timeout=0.2):
            pass
        trigger.notify("bob")
        assert bob_wakes.acquire(timeout=5)
        assert not carol_wakes.acquire(timeout=0.2)
    finally:
        dispose_bob()
        dispose_carol()


def test_notify_rewrites_the_wake_file_in_place_and_each_notify_wakes(tmp_path: Path) -> None:
    """No truncation (ext4 writes a truncated-and-rewritten file back to disk on close: ~240 us a
    wake), yet every notify is a wake: a foreign core's longer content keeps its tail."""
    trigger = FileWatchTrigger(tmp_path / "wake")
    wakes = threading.Semaphore(0)
    dispose = trigger.arm("bob", wakes.release)
    try:
        (tmp_path / "wake" / "bob").write_bytes(b"wake from another core\n")
        assert wakes.acquire(timeout=5), "a foreign write must wake too (TRIG-1)"
        for _ in range(3):
            trigger.notify("bob")
            assert wakes.acquire(timeout=5), "no wake arrived"
        assert (tmp_path / "wake" / "bob").read_bytes() == b"1ake from another core\n"
    finally:
        dispose()


def test_notify_without_wake_dir_does_not_raise(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    FileWatchTrigger(tmp_path / "missing" / "wake").notify("bob")
    assert "could not wake bob" in caplog.text


def test_poll_trigger_ticks_and_stops(tmp_path: Path) -> None:
    ticks: list[int] = []
    dispose = PollTrigger(0.02).arm("bob", lambda: ticks.append(1))
    wait_until(lambda: len(ticks) >= 3, timeout=5, what="three poll ticks")
    dispose()
    settled = len(ticks)
    assert not threading.Event().wait(0.1)
    assert len(ticks) <= settled + 1


def test_make_trigger_selects_by_env(tmp_path: Path) -> None:
    def made(env: dict[str, str]) -> str:
        return make_trigger(Settings.from_env({"AGENTBUS_HOME": str(tmp_path), **env})).name

    assert made({}) == "file-watch"
    assert made({"AGENTBUS_TRIGGER": " Poll "}) == "poll"
    with pytest.raises(
        ValueError, match="AGENTBUS_TRIGGER='carrier-pigeon' is unknown; choose one of: file-watch, poll, pg-notify"
    ):
        made({"AGENTBUS_TRIGGER": "carrier-pigeon"})
