"""The adapter process: its environment, spawning it in its own session, stdio pipes, reader threads, ending it."""

import codecs
import contextlib
import fcntl
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO

#: Variables a real Claude Code gives its servers that name its session; fakeclaude sets its own.
CLAUDE_SESSION_VARIABLES = ("CLAUDE_CODE_", "CLAUDE_PROJECT_DIR", "CLAUDE_CONFIG_DIR", "CLAUDECODE")
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def adapter_env(
    extra: Mapping[str, str] | None,
    *,
    inherit: bool = True,
    name: str | None = None,
    bus_home: Path | None = None,
    home: Path | None = None,
) -> dict[str, str]:
    """The adapter's environment: the caller's (or just PATH) minus AGENTBUS_* and Claude's session
    variables, plus AGENTBUS_NAME, AGENTBUS_HOME and HOME when given, then ``extra``."""
    base = dict(os.environ) if inherit else {"PATH": os.environ.get("PATH", os.defpath)}
    # A test run from inside a real Claude Code must not hand its session (and transcript) on.
    env = {k: v for k, v in base.items() if not k.startswith(("AGENTBUS_", *CLAUDE_SESSION_VARIABLES))}
    if name is not None:
        env["AGENTBUS_NAME"] = name
    if bus_home is not None:
        env["AGENTBUS_HOME"] = str(bus_home)
    if home is not None:
        env["HOME"] = str(home)
    env.update(extra or {})
    return env


def child_pid(parent: int) -> int | None:
    """The first child of ``parent`` (the adapter behind the ``claude`` stand-in; Linux /proc), or None."""
    try:
        children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


class AdapterProcess:
    """One adapter process in a new session (so its process group is its own), with piped stdio.

    ``start(on_line, on_eof)`` spawns it. With ``on_line`` a thread reads stdout line by line and
    calls ``on_eof`` once it closes; without, stdout is left to the caller (``proc.stdout``). stderr
    goes to ``stderr_file`` when given, else a thread drains it into ``stderr`` (and ``stderr_echo``).
    """

    def __init__(
        self,
        argv: list[str],
        *,
        env: Mapping[str, str],
        executable: str | None = None,
        cwd: str | os.PathLike[str] | None = None,
        label: str | None = None,
        stderr_file: IO[bytes] | None = None,
        stderr_echo: IO[str] | None = None,
        pipe_size: int | None = None,
    ) -> None:
        self.argv = argv
        self.env = dict(env)
        self.executable = executable
        self.cwd = cwd
        self.label = label
        self.stderr_file = stderr_file
        self.stderr_echo = stderr_echo
        #: Size of the stdout pipe (``F_SETPIPE_SZ``), None for the system's default.
        self.pipe_size = pipe_size
        #: time.monotonic() when stdin was closed, None while it is open.
        self.stdin_closed_at: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stdin_lock = threading.Lock()  # a write and the closing of stdin never interleave
        self._stderr_lock = threading.Lock()
        self._stderr_chunks: list[str] = []
        self._threads: list[threading.Thread] = []

    @property
    def proc(self) -> "subprocess.Popen[bytes]":
        """The process (after ``start``)."""
        if self._proc is None:
            raise RuntimeError("adapter process not started")
        return self._proc

    @property
    def started(self) -> bool:
        """True once ``start`` spawned the process."""
        return self._proc is not None

    def start(self, on_line: Callable[[bytes], None] | None = None, on_eof: Callable[[], None] | None = None) -> None:
        """Spawn the process (OSError if it cannot be) and its reader threads."""
        if self._proc is not None:
            raise RuntimeError("adapter process already started")
        self._proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr_file if self.stderr_file is not None else subprocess.PIPE,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
            executable=self.executable,
        )
        assert self._proc.stdout is not None
        if self.pipe_size is not None:
            fcntl.fcntl(self._proc.stdout.fileno(), F_SETPIPE_SZ, self.pipe_size)
        readers: list[tuple[Callable[[], None], str]] = []
        if on_line is not None:
            readers.append((lambda: self._read_stdout(on_line, on_eof), "stdout"))
        if self.stderr_file is None:
            readers.append((self._read_stderr, "stderr"))
        for target, stream in readers:
            thread = threading.Thread(target=target, name=f"fakeclaude-{self.label}-{stream}", daemon=True)
            thread.start()
            self._threads.append(thread)

    # ----------------------------------------------------------------- reading

    def _read_stdout(self, on_line: Callable[[bytes], None], on_eof: Callable[[], None] | None) -> None:
        stream = self.proc.stdout
        assert stream is not None
        try:
            for line in iter(stream.readline, b""):
                on_line(line)
        except (OSError, ValueError):
            pass
        finally:
            if on_eof is not None:
                on_eof()

    def _read_stderr(self) -> None:
        stream = self.proc.stderr
        assert stream is not None
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        try:
            while True:
                chunk = stream.read1(65536)  # type: ignore[attr-defined]  # a BufferedReader (bufsize -1)
                if not chunk:
                    break
                text = decoder.decode(chunk)
                with self._stderr_lock:
                    self._stderr_chunks.append(text)
                if self.stderr_echo is not None:
                    with contextlib.suppress(Exception):
                        self.stderr_echo.write(text)
                        self.stderr_echo.flush()
        except (OSError, ValueError):
            pass

    @property
    def stderr(self) -> str:
        """Everything the adapter wrote to stderr so far (when a thread drains it; else "")."""
        with self._stderr_lock:
            return "".join(self._stderr_chunks)

    def join_readers(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for each reader thread; True once all have ended."""
        for thread in self._threads:
            thread.join(timeout=timeout)
        return not any(t.is_alive() for t in self._threads)

    # ----------------------------------------------------------------- writing

    def write(self, data: bytes) -> None:
        """Write to stdin and flush; BrokenPipeError, ConnectionResetError or ValueError once it is gone."""
        stdin = self.proc.stdin
        assert stdin is not None
        with self._stdin_lock:
            stdin.write(data)
            stdin.flush()

    def close_stdin(self) -> None:
        """Close stdin (EOF for the adapter), once; ``stdin_closed_at`` says when."""
        proc = self._proc
        if proc is None or proc.stdin is None:
            return
        with self._stdin_lock:
            if not proc.stdin.closed:
                with contextlib.suppress(OSError, ValueError):
                    proc.stdin.close()
                self.stdin_closed_at = time.monotonic()

    # ----------------------------------------------------------------- state

    @property
    def pid(self) -> int | None:
        """The pid (also the process group id), None before ``start``."""
        return self._proc.pid if self._proc is not None else None

    def poll(self) -> int | None:
        """The exit code, or None while it runs (or before ``start``)."""
        return self._proc.poll() if self._proc is not None else None

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit; subprocess.TimeoutExpired after ``timeout``."""
        return self.proc.wait(timeout)

    def wait_exit(self, timeout: float) -> int | None:
        """The exit code within ``timeout``, else None."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    # ----------------------------------------------------------------- ending

    def send_signal(self, name: str) -> None:
        """Send the signal ``name`` (``"SIGINT"``...) to the process; one that has gone is fine."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(getattr(signal, name))

    def kill_group(self) -> None:
        """SIGKILL the whole process group now (the process alone if the group cannot be signalled)."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, OSError):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    def kill_adapter_first(self, adapter_pid: int | None, timeout: float = 5.0) -> None:
        """SIGKILL ``adapter_pid`` (the stand-in's child) and let its parent reap it, as Claude Code
        would; then SIGKILL the group and wait for the process."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        if adapter_pid is not None and adapter_pid != proc.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(adapter_pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)  # the stand-in exits once it has reaped the adapter
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout)

    def end_after_eof(self, timeout: float) -> tuple[int, bool]:
        """Close stdin, wait ``timeout`` for the exit, else SIGKILL the group: (exit code, killed)."""
        self.close_stdin()
        try:
            return self.proc.wait(timeout), False
        except subprocess.TimeoutExpired:
            self.kill_group()
            return self.proc.wait(), True

    def shutdown(self, steps: Iterable[tuple[str, int]]) -> tuple[int, tuple[str, ...], float]:
        """End it as a client quitting does: each ``(signal name, ms after the start)`` step is sent only
        while the process still runs; SIGKILL goes to the whole group. (exit code, signals sent, seconds)."""
        proc = self.proc
        started = time.monotonic()
        sent: list[str] = []
        code: int | None = None
        for name, after_ms in steps:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = proc.wait(max(0.0, started + after_ms / 1000 - time.monotonic()))
                break
            sent.append(name)
            if name == "SIGKILL":
                self.kill_group()
            else:
                self.send_signal(name)
        if code is None:
            code = proc.wait()
        return code, tuple(sent), time.monotonic() - started

    def release(self) -> None:
        """After the exit: join the reader threads (killing the group if a child still holds the pipes),
        close the pipes."""
        proc = self.proc
        if not self.join_readers(2.0):
            # A child of the adapter still holds the pipes: take the whole group down.
            with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            self.join_readers(2.0)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.close()
