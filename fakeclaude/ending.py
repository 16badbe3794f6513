"""How a session ends: stdin EOF like Claude Code on exit, its client's signal schedule, a kill; what each took."""

import queue
import threading
import time
from collections.abc import Callable

from fakeclaude.assertions import SessionChecks
from fakeclaude.native import FakeMessagingSocket
from fakeclaude.process import AdapterProcess, child_pid
from fakeclaude.profiles import Profile
from fakeclaude.results import CloseResult, ShutdownResult
from fakeclaude.transcript import TranscriptWriter


class SessionEnding(SessionChecks):
    """The process side of a ``Session`` once it runs (a base of it; the attributes are the session's).

    The mechanics (signals, process groups, pipes) are ``AdapterProcess``'s; this records what
    happened as ``close_result`` / ``shutdown_result`` and findings, and wakes every wait at the end.
    """

    profile: Profile
    claude_argv: tuple[str, ...] | None
    close_result: CloseResult | None
    shutdown_result: ShutdownResult | None
    _process: AdapterProcess | None
    _tasks: "queue.SimpleQueue[Callable[[], object] | None]"
    _dispatcher: threading.Thread | None
    transcript: TranscriptWriter | None
    messaging: FakeMessagingSocket | None

    @property
    def pid(self) -> int | None:
        """The process fakeclaude started (the ``claude`` stand-in unless as_claude=False); None before start."""
        return self._process.pid if self._process is not None else None

    @property
    def adapter_pid(self) -> int | None:
        """The adapter's own process id (the stand-in's child; Linux /proc), None if unknown or gone."""
        pid = self.pid
        if pid is None or self.claude_argv is None:
            return pid
        return child_pid(pid)

    @property
    def returncode(self) -> int | None:
        """The adapter's exit code, or None while it runs."""
        return self._process.poll() if self._process is not None else None

    @property
    def alive(self) -> bool:
        """True while the adapter process runs."""
        return self._process is not None and self._process.poll() is None

    def wait_exit(self, timeout: float) -> int | None:
        """Wait for the adapter to exit by itself; its exit code, or None if still running."""
        return self._process.wait_exit(timeout) if self._process is not None else None

    def close(self, timeout: float = 5.0) -> CloseResult:
        """Close stdin like Claude Code on exit; wait ``timeout`` s for the exit, else kill. Idempotent."""
        if self.close_result is not None:
            return self.close_result
        process = self._process
        if process is None:
            self.close_result = CloseResult(None, False, None, False, timeout)
            self._close_doors()
            return self.close_result
        already = process.poll() is not None
        process.close_stdin()
        started = process.stdin_closed_at or time.monotonic()
        code, killed = process.end_after_eof(timeout)
        if killed:
            result = CloseResult(code, False, None, True, timeout)
            self._finding("no_exit_on_eof", f"adapter did not exit within {timeout:g}s of stdin EOF; killed it")
        else:
            result = CloseResult(code, not already, time.monotonic() - started, False, timeout, already)
        self._finish()
        self.close_result = result
        return result

    def shutdown(self) -> ShutdownResult:
        """End the adapter as the profile's client does when it quits: SIGINT, SIGTERM, SIGKILL on its
        schedule (Claude Code: SIGTERM ~100 ms after SIGINT, SIGKILL ~400 ms after that), each sent
        only while the adapter still runs. The result names the signals it took. Idempotent."""
        if self.shutdown_result is not None:
            return self.shutdown_result
        process = self._process
        if process is None or process.poll() is not None:
            self.close(timeout=1.0)
            self.shutdown_result = ShutdownResult(process.poll() if process is not None else None, (), 0.0)
            return self.shutdown_result
        code, sent, seconds = process.shutdown((step.name, step.after_ms) for step in self.profile.shutdown)
        self.close(timeout=1.0)
        self.shutdown_result = ShutdownResult(code, sent, seconds)
        if "SIGKILL" in sent:
            self._finding("killed_on_shutdown", f"adapter still ran {seconds:.3f}s into the client's shutdown; SIGKILL")
        return self.shutdown_result

    def kill(self) -> int | None:
        """SIGKILL the adapter (and its process group) now; returns its exit code."""
        process = self._process
        if process is None:
            return None
        if self.close_result is not None:
            return self.close_result.exit_code
        process.kill_group()
        code = process.wait()
        process.close_stdin()
        self._finish()
        self.close_result = CloseResult(code, False, None, True, 0.0)
        return code

    def close_stdin(self) -> None:
        """Close the adapter's stdin (EOF) without waiting; ``close()`` then measures from this moment."""
        if self._process is not None:
            self._process.close_stdin()

    def _close_doors(self) -> None:
        if self.app_server is not None:
            self.app_server.close()
        if self.messaging is not None:
            self.messaging.close()
        if self.gemini is not None:
            self.gemini.close()

    def _finish(self) -> None:
        """Release the process (reader threads, pipes) after its exit, stop the dispatcher, wake every wait."""
        assert self._process is not None
        self._process.release()
        self._close_doors()  # Codex's app-server and Claude Code's socket go with their session
        if self.transcript is not None:
            self.transcript.close()
        self._tasks.put(None)
        if self._dispatcher is not None and self._dispatcher is not threading.current_thread():
            self._dispatcher.join(timeout=2.0)
        with self._cond:
            self._stdout_eof = True
            self._cond.notify_all()
