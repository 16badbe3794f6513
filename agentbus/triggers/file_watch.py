"""The file-watch trigger: one wake file per peer under AGENTBUS_HOME/wake, watched with watchdog."""

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileClosedEvent, FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from agentbus.core.ports import Disposer

log = logging.getLogger(__name__)


class _WakeFileHandler(FileSystemEventHandler):
    def __init__(self, target: str, on_wake: Callable[[], None]) -> None:
        self.target = target
        self.on_wake = on_wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type == "opened":
            return
        if event.src_path == self.target or getattr(event, "dest_path", None) == self.target:
            self.on_wake()


class FileWatchTrigger:
    name = "file-watch"

    def __init__(self, wake_dir: Path) -> None:
        self.wake_dir = wake_dir

    def _wake_file(self, name: str) -> Path:
        return self.wake_dir / name

    def arm(self, self_name: str, on_wake: Callable[[], None]) -> Disposer:
        self.wake_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = self._wake_file(self_name)
        target.touch(mode=0o600, exist_ok=True)
        observer = Observer()
        handler = _WakeFileHandler(os.fsdecode(target), on_wake)
        if sys.platform == "linux":
            # inotify on the peer's own file, close-after-write only: one event per notify, and no
            # CPU spent by every other peer's watcher on wakes that are not theirs.
            observer.schedule(handler, os.fsdecode(target), event_filter=[FileClosedEvent])
        else:
            observer.schedule(handler, os.fsdecode(self.wake_dir))
        observer.daemon = True
        observer.start()

        def dispose() -> None:
            observer.stop()
            observer.join(timeout=2)

        return dispose

    def notify(self, recipient: str) -> None:
        try:
            fd = os.open(self._wake_file(recipient), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, b"1")
            finally:
                os.close(fd)
        except OSError as exc:
            # The safety poll still delivers; a missing wake directory must not fail a send.
            log.warning("could not wake %s via %s: %s", recipient, self.wake_dir, exc)
