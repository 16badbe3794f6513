"""The file-watch trigger: one wake file per peer under AGENTBUS_HOME/wake, watched (path_watch.py)."""

import logging
import os
from collections.abc import Callable
from pathlib import Path

from agentbus.core.ports import Disposer

log = logging.getLogger(__name__)


class FileWatchTrigger:
    name = "file-watch"

    def __init__(self, wake_dir: Path) -> None:
        self.wake_dir = wake_dir

    def _wake_file(self, name: str) -> Path:
        return self.wake_dir / name

    def arm(self, self_name: str, on_wake: Callable[[], None]) -> Disposer:
        # Imported here, not with the module: an adapter answers its client's initialize before it
        # arms (and notify needs only the standard library).
        from agentbus.triggers.path_watch import Change, watch

        self.wake_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = self._wake_file(self_name)
        target.touch(mode=0o600, exist_ok=True)
        return watch(target, Change.WRITTEN, on_wake)

    def notify(self, recipient: str) -> None:
        try:
            # No O_TRUNC: ext4 starts writing a file truncated and written again back to disk on
            # close (auto_da_alloc): measured here 237 us per wake (91 us of CPU), against 6 us for
            # the one byte rewritten in place. The close after writing is the wake either way.
            fd = os.open(self._wake_file(recipient), os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.write(fd, b"1")
            finally:
                os.close(fd)
        except OSError as exc:
            # The safety poll still delivers; a missing wake directory must not fail a send.
            log.warning("could not wake %s via %s: %s", recipient, self.wake_dir, exc)

    def close(self) -> None:
        return None
