"""A hand-driven stdio client: it reads the adapter's stdout only when told, so the adapter's writes block.

fakeclaude reads continuously; some rules (DELIV-3, DELIV-5, DELIV-9, SCHEMA-5) are only observable
while a push is stuck in the pipe, so these tests open the adapter with this client instead, with
the stdout pipe shrunk to one page (``F_SETPIPE_SZ``).

The process is fakeclaude's ``AdapterProcess`` (the same environment handling, stand-in, new session,
pipe size and kill), started without a stdout reader thread: a thread that drains stdout would
unblock the very writes these rules watch. Reading is therefore this module's own (non-blocking
``os.read`` and ``select``, only when a test asks), and stderr goes to a file instead of a thread.
"""

import contextlib
import fcntl
import json
import os
import select
import struct
import subprocess
import termios
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from agentbus.manifest import Manifest
from fakeclaude import profiles
from fakeclaude.claude_shim import stand_in
from fakeclaude.process import AdapterProcess, child_pid
from fakeclaude.profiles import Profile

CHANNEL_METHOD = "notifications/claude/channel"


class RawClient:
    """One adapter process; ``start()`` runs the initialize handshake, then reading is explicit."""

    def __init__(
        self,
        manifest: Manifest,
        env: Mapping[str, str],
        *,
        stderr_path: Path,
        cwd: Path | None = None,
        pipe_size: int | None = None,
        as_claude: bool = True,
        profile: Profile | None = None,
    ) -> None:
        self.manifest = manifest
        #: The recorded client whose initialize params this client sends (its plain initialize opening).
        self.profile = profile or profiles.load()
        self.as_claude = as_claude
        self.env = dict(env)
        self.cwd = cwd
        self.pipe_size = pipe_size
        self.stderr_path = stderr_path
        self.messages: list[dict[str, Any]] = []
        self.channel_events: list[dict[str, Any]] = []
        self.junk: list[bytes] = []
        self._buffer = b""
        self._next_id = 0
        self._process: AdapterProcess | None = None
        self._stderr: IO[bytes] | None = None
        self.started_at = 0.0
        self.initialized_at = 0.0
        self.initialize_result: dict[str, Any] = {}

    @property
    def proc(self) -> "subprocess.Popen[bytes]":
        """The adapter process (after ``start``)."""
        if self._process is None:
            raise RuntimeError("raw client not started")
        return self._process.proc

    @property
    def pid(self) -> int:
        """The adapter's pid (also its process group id)."""
        return self.proc.pid

    @property
    def command(self) -> list[str]:
        """The argv started: like fakeclaude, behind a ``claude`` stand-in launched with channels on.

        Adapters may read their parent's command line to learn whether Claude Code runs with
        channels (claude-mcp does); the stand-in says it does, as a real channel session would.
        """
        return self._launch_spec()[0]

    def _launch_spec(self) -> tuple[list[str], str | None, dict[str, str]]:
        if not self.as_claude:
            return list(self.manifest.command), None, self.env
        flags = ("--dangerously-load-development-channels", f"server:{self.manifest.server_name}")
        return stand_in(flags, self.manifest.command, self.env)

    @property
    def adapter_pid(self) -> int | None:
        """The adapter's own pid (the stand-in's child when ``as_claude``), None if unknown or gone."""
        return child_pid(self.pid) if self.as_claude else self.pid

    def start(self, timeout: float = 10.0, list_tools: bool = True) -> "RawClient":
        """Spawn the adapter, shrink its stdout pipe, run initialize + notifications/initialized.

        Then, like Claude Code, ``tools/list`` (unless ``list_tools`` is false): its answer also means
        the adapter is past its start-up and serving.
        """
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in close()
        self.started_at = time.monotonic()
        argv, executable, env = self._launch_spec()
        self._process = AdapterProcess(
            argv,
            env=env,
            executable=executable,
            cwd=self.cwd,
            label="rawclient",
            stderr_file=self._stderr,
            pipe_size=self.pipe_size,
        )
        self._process.start()  # no reader thread: stdout is read only when a test asks
        assert self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        response = self.request(
            "initialize",
            self.profile.initialize["params"],
            timeout=timeout,
        )
        self.initialized_at = time.monotonic()
        if "result" not in response:
            raise AssertionError(f"initialize failed: {response}\n{self.stderr_tail()}")
        self.initialize_result = response["result"]
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        if list_tools:
            listed = self.request("tools/list", {}, timeout=max(0.5, timeout - (time.monotonic() - self.started_at)))
            if "result" not in listed:
                raise AssertionError(f"tools/list failed: {listed}\n{self.stderr_tail()}")
        return self

    # writing -----------------------------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        """Write one JSON-RPC message line to the adapter's stdin."""
        if self._process is None:
            raise RuntimeError("raw client not started")
        self._process.write(json.dumps(message).encode() + b"\n")

    def request(self, method: str, params: Mapping[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
        """Send a request and read (collecting everything else) until its response arrives."""
        self._next_id += 1
        msg_id = self._next_id
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = dict(params)
        self.send(message)
        found = self.read_until(lambda m: m.get("id") == msg_id and "method" not in m, timeout, f"response to {method}")
        return found

    # reading -----------------------------------------------------------------------------------

    def pipe_bytes(self) -> int:
        """Bytes written by the adapter and not read yet (FIONREAD on the stdout pipe)."""
        stdout = self.proc.stdout
        assert stdout is not None
        raw = fcntl.ioctl(stdout.fileno(), termios.FIONREAD, struct.pack("i", 0))
        return int(struct.unpack("i", raw)[0])

    def read_available(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Read what is in the pipe, without blocking; the complete messages it finished.

        With ``limit``, read at most that many bytes: ``read_available(pipe_bytes())`` takes what was
        written up to that moment and nothing the adapter manages to write while the kit reads.
        """
        stdout = self.proc.stdout
        assert stdout is not None
        chunks = []
        left = limit
        while left is None or left > 0:
            try:
                chunk = os.read(stdout.fileno(), 65536 if left is None else min(left, 65536))
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if left is not None:
                left -= len(chunk)
        return self._absorb(b"".join(chunks))

    def read_until(self, predicate: Any, timeout: float, what: str) -> dict[str, Any]:
        """Read until a message matches ``predicate`` (already-read messages count); AssertionError on timeout."""
        for message in self.messages:
            if predicate(message):
                return message
        stdout = self.proc.stdout
        assert stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {what} within {timeout:g}s\n{self.stderr_tail()}")
            ready, _, _ = select.select([stdout.fileno()], [], [], remaining)
            if not ready:
                continue
            try:
                chunk = os.read(stdout.fileno(), 65536)
            except BlockingIOError:
                continue
            if not chunk:
                raise AssertionError(f"adapter closed its stdout before {what}\n{self.stderr_tail()}")
            for message in self._absorb(chunk):
                if predicate(message):
                    return message

    def read_to_eof(self, timeout: float) -> list[dict[str, Any]]:
        """Read until the adapter's stdout closes (after it died or exited) or ``timeout``."""
        stdout = self.proc.stdout
        assert stdout is not None
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([stdout.fileno()], [], [], remaining)
            if not ready:
                continue
            try:
                chunk = os.read(stdout.fileno(), 65536)
            except BlockingIOError:
                continue
            if not chunk:
                break
            found += self._absorb(chunk)
        return found

    def _absorb(self, data: bytes) -> list[dict[str, Any]]:
        self._buffer += data
        out = []
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            try:
                message = json.loads(line)
            except ValueError:
                self.junk.append(line)
                continue
            if not isinstance(message, dict):
                self.junk.append(line)
                continue
            self.messages.append(message)
            if message.get("method") == CHANNEL_METHOD:
                self.channel_events.append(message.get("params") or {})
            out.append(message)
        return out

    def channel_ids(self) -> list[int]:
        """``meta.msg_id`` of every channel event read so far, as integers, in arrival order."""
        ids = []
        for params in self.channel_events:
            msg_id = (params.get("meta") or {}).get("msg_id")
            if isinstance(msg_id, str) and msg_id.isdigit():
                ids.append(int(msg_id))
        return ids

    # ending ------------------------------------------------------------------------------------

    def stderr_tail(self, size: int = 1500) -> str:
        """The end of what the adapter wrote to stderr."""
        try:
            text = self.stderr_path.read_bytes()[-size:].decode("utf-8", "replace")
        except OSError:
            return ""
        return f"--- adapter stderr (tail) ---\n{text}" if text.strip() else ""

    def kill(self) -> None:
        """SIGKILL the adapter now; its parent (the stand-in, like Claude Code) reaps it, then the group goes."""
        if self._process is None or self._process.poll() is not None:
            return
        self._process.kill_adapter_first(self.adapter_pid, timeout=5.0)

    def close(self, timeout: float = 2.0) -> int | None:
        """Close stdin, wait ``timeout`` for the exit, else kill; release the pipes. Idempotent."""
        if self._process is None:
            return None
        proc = self._process.proc
        for pipe in (proc.stdin, proc.stdout):  # a closed stdout unblocks a write stuck in the pipe
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        if self._stderr is not None:
            self._stderr.close()
        return proc.returncode
