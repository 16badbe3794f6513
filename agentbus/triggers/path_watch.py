"""Watch one file or directory and call back when it changes, with no threads between the kernel and the loop.

On Linux each watch is its own inotify descriptor (watchdog's inotify bindings), and when it is armed
inside a running asyncio loop the loop itself reads it (``add_reader``): the change reaches the
callback on the loop thread. A watchdog ``Observer`` hands every event through four threads (the
inotify reader, its dispatcher, the emitter, the observer's dispatcher), and with a wake file and a
transcript watched that was most of an adapter's CPU and ~700 context switches a second in a soak of
20 peers (benchmarks/README.md). Armed outside a loop (a test, a script), one thread of its own reads
the descriptor. Elsewhere (no inotify) a watchdog ``Observer`` does the watching.
"""

import asyncio
import contextlib
import ctypes
import enum
import os
import select
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from agentbus.core.ports import Disposer


class Change(enum.Enum):
    """What counts as a change of the watched path."""

    #: A file closed after being written (a wake file: one event per notify).
    WRITTEN = "written"
    #: A file written to (each append), replaced, moved or removed (a transcript). Not its close: a write
    #: already woke the watcher, and the close after it would wake it once more to read nothing.
    #: Removed shows as a change of its link count (IN_ATTRIB): a reader that keeps the file open
    #: holds its inode, and IN_DELETE_SELF comes only once the last descriptor is closed.
    GROWN = "grown"
    #: A directory gaining an entry, created or moved in (waiting for a file to appear).
    ENTRIES = "entries"


def watch(path: Path, change: Change, on_change: Callable[[], None]) -> Disposer:
    """Call ``on_change`` whenever ``path`` changes as ``change`` says; return the stopper.

    Inside a running loop on Linux, ``on_change`` runs on the loop thread and the stopper must be
    called there too; otherwise it runs on a watcher thread. OSError if the path cannot be watched.
    """
    if sys.platform != "linux":
        return _watch_with_observer(path, change, on_change)
    fd = _inotify_descriptor(path, change)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return _read_on_a_thread(fd, on_change)

    def readable() -> None:
        if _drain(fd):
            on_change()

    loop.add_reader(fd, readable)

    def dispose() -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed already: nothing reads it
            loop.remove_reader(fd)
        os.close(fd)

    return dispose


def _inotify_descriptor(path: Path, change: Change) -> int:
    from watchdog.observers.inotify_c import InotifyConstants as flags
    from watchdog.observers.inotify_c import inotify_add_watch, inotify_init

    masks = {
        Change.WRITTEN: flags.IN_CLOSE_WRITE,
        Change.GROWN: flags.IN_MODIFY | flags.IN_ATTRIB | flags.IN_MOVE_SELF | flags.IN_DELETE_SELF,
        Change.ENTRIES: flags.IN_CREATE | flags.IN_MOVED_TO | flags.IN_ONLYDIR,
    }
    fd = inotify_init()
    if fd < 0:
        error = ctypes.get_errno()
        raise OSError(error, f"cannot watch {path}: {os.strerror(error)}")
    os.set_blocking(fd, False)
    os.set_inheritable(fd, False)
    if inotify_add_watch(fd, os.fsencode(path), masks[change]) < 0:
        error = ctypes.get_errno()
        os.close(fd)
        raise OSError(error, f"cannot watch {path}: {os.strerror(error)}", str(path))
    return fd


def _drain(fd: int) -> bool:
    """Read every queued event (their content does not matter: one watch per descriptor); True if any."""
    got = False
    with contextlib.suppress(BlockingIOError):
        while os.read(fd, 65536):
            got = True
    return got


def _read_on_a_thread(fd: int, on_change: Callable[[], None]) -> Disposer:
    """The descriptor read by a thread of its own, which closes it when stopped (even from ``on_change``)."""
    stop_read, stop_write = os.pipe()
    stopped = threading.Event()
    guard = threading.Lock()
    closed = False

    def close_all() -> None:
        nonlocal closed
        with guard:
            if not closed:
                closed = True
                for descriptor in (fd, stop_read, stop_write):
                    os.close(descriptor)

    def run() -> None:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.register(stop_read, select.POLLIN)
        try:
            while not stopped.is_set():
                ready = {descriptor for descriptor, _ in poller.poll()}
                if stop_read in ready:
                    return
                if _drain(fd):
                    on_change()
        finally:
            close_all()

    thread = threading.Thread(target=run, name="agentbus-path-watch", daemon=True)
    thread.start()

    def dispose() -> None:
        stopped.set()
        with guard:
            if not closed:
                os.write(stop_write, b"x")
        if thread is not threading.current_thread():
            thread.join(timeout=2)

    return dispose


def _watch_with_observer(path: Path, change: Change, on_change: Callable[[], None]) -> Disposer:
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    target = os.fsdecode(path)

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            if event.event_type in ("opened", "closed_no_write"):
                return  # our own reads
            if change is Change.ENTRIES or target in (event.src_path, getattr(event, "dest_path", None)):
                on_change()

    observer = Observer()
    observer.schedule(Handler(), target if change is Change.ENTRIES else os.fsdecode(path.parent))
    observer.daemon = True
    observer.start()

    def dispose() -> None:
        observer.stop()
        if observer is not threading.current_thread():
            observer.join(timeout=2)

    return dispose
