"""The watchdog side of the file-watch trigger: an observer on one wake file (imported when armed)."""

import os
import sys
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileClosedEvent, FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from agentbus.core.ports import Disposer


class _WakeFileHandler(FileSystemEventHandler):
    def __init__(self, target: str, on_wake: Callable[[], None]) -> None:
        self.target = target
        self.on_wake = on_wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type == "opened":
            return
        if event.src_path == self.target or getattr(event, "dest_path", None) == self.target:
            self.on_wake()


def watch(target: Path, on_wake: Callable[[], None]) -> Disposer:
    """Call ``on_wake`` (from the observer's thread) whenever ``target`` is written; returns the stopper."""
    observer = Observer()
    handler = _WakeFileHandler(os.fsdecode(target), on_wake)
    if sys.platform == "linux":
        # inotify on the peer's own file, close-after-write only: one event per notify, and no
        # CPU spent by every other peer's watcher on wakes that are not theirs.
        observer.schedule(handler, os.fsdecode(target), event_filter=[FileClosedEvent])
    else:
        observer.schedule(handler, os.fsdecode(target.parent))
    observer.daemon = True
    observer.start()

    def dispose() -> None:
        observer.stop()
        observer.join(timeout=2)

    return dispose
