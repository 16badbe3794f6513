"""path_watch: a change reaches the running loop itself (no thread in between), or a watch thread outside one."""

import asyncio
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agentbus.adapters.claude_mcp import transcript
from agentbus.endpoint import Sighting
from agentbus.triggers import FileWatchTrigger
from agentbus.triggers.path_watch import Change, watch

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="the loop reads inotify only on Linux")
TAG = '<channel source="agentbus" from="alice" msg_id="{id}" ts="2026-12-02T03:12:20.446Z">\nhi\n</channel>'


def _record(msg_id: int) -> str:
    return json.dumps({"type": "queue-operation", "operation": "enqueue", "content": TAG.format(id=msg_id)}) + "\n"


async def _until(check: object, what: str, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


@linux_only
def test_a_wake_from_another_process_reaches_the_loop_thread_and_starts_no_thread(tmp_path: Path) -> None:
    trigger = FileWatchTrigger(tmp_path / "wake")

    async def main() -> tuple[list[int], int, int]:
        woken_on: list[int] = []
        threads_before = threading.active_count()
        dispose = trigger.arm("bob", lambda: woken_on.append(threading.get_ident()))
        threads_armed = threading.active_count()
        try:
            code = (
                "import sys; from pathlib import Path; from agentbus.triggers import FileWatchTrigger; "
                "FileWatchTrigger(Path(sys.argv[1])).notify('bob'); FileWatchTrigger(Path(sys.argv[1])).notify('carol')"
            )
            process = await asyncio.create_subprocess_exec(sys.executable, "-c", code, str(tmp_path / "wake"))
            assert await process.wait() == 0
            await _until(lambda: woken_on, "bob's wake")
            await asyncio.sleep(0.2)  # carol's wake file is another watch: it must not wake bob
        finally:
            dispose()
        return woken_on, threads_armed - threads_before, threading.get_ident()

    woken_on, new_threads, loop_thread = asyncio.run(main())
    assert woken_on == [loop_thread], woken_on
    assert new_threads == 0, f"arming started {new_threads} thread(s)"


@linux_only
def test_a_disposed_watch_is_no_longer_read(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("")

    async def main() -> list[int]:
        changes: list[int] = []
        dispose = watch(target, Change.WRITTEN, lambda: changes.append(1))
        target.write_text("one")
        await _until(lambda: changes, "the first change")
        dispose()
        target.write_text("two")
        await asyncio.sleep(0.2)
        return changes

    assert asyncio.run(main()) == [1]


def test_outside_a_loop_a_watch_thread_calls_back_and_stops(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("")
    changes = threading.Semaphore(0)
    dispose = watch(target, Change.WRITTEN, changes.release)
    try:
        target.write_text("one")
        assert changes.acquire(timeout=5), "no change reported"
    finally:
        dispose()
    target.write_text("two")
    assert not changes.acquire(timeout=0.3), "a stopped watch reported a change"


def test_a_path_that_cannot_be_watched_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="cannot watch"):
        watch(tmp_path / "missing" / "dir", Change.ENTRIES, lambda: None)


@linux_only
def test_the_follower_on_a_loop_reads_a_created_then_replaced_transcript(tmp_path: Path) -> None:
    """Claude Code creates the file on its first record; a file replaced under the same name is followed too."""
    path = tmp_path / "projects" / "key" / "s.jsonl"
    found: list[Sighting] = []
    reader_threads: set[int] = set()

    def on_sightings(sightings: list[Sighting]) -> None:
        reader_threads.add(threading.get_ident())
        found.extend(sightings)

    async def main() -> int:
        follower = transcript.TranscriptFollower(path, on_sightings)
        follower.start()
        try:
            path.parent.mkdir(parents=True)
            with path.open("a") as handle:
                handle.write(_record(1))
            await _until(lambda: [s.msg_id for s in found] == [1], "the record of the new file")
            replacement = path.with_name("s.jsonl.new")
            replacement.write_text(_record(2))
            os.replace(replacement, path)
            await _until(lambda: [s.msg_id for s in found] == [1, 2], "the record of the replaced file")
            with path.open("a") as handle:
                handle.write(_record(3))
            await _until(lambda: [s.msg_id for s in found] == [1, 2, 3], "a record appended to the replacement")
        finally:
            follower.close()
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert reader_threads == {loop_thread}, "a change was read on another thread than the loop's"


def test_notify_is_a_plain_file_write_any_core_can_do(tmp_path: Path) -> None:
    """TRIG-1 for foreign cores: writing the wake file wakes the peer, whatever wrote it."""
    trigger = FileWatchTrigger(tmp_path / "wake")
    woken = threading.Semaphore(0)
    dispose = trigger.arm("bob", woken.release)
    try:
        subprocess.run(["sh", "-c", f"printf 1 > {tmp_path / 'wake' / 'bob'}"], check=True, timeout=30)
        assert woken.acquire(timeout=5), "a wake file written by sh woke nobody"
    finally:
        dispose()
