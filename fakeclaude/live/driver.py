"""A live Claude Code session in a pseudo-terminal (pexpect): start, confirm channels, type, quit like a user.

``LiveSession(claude, home, model, name="bob").start()`` runs
``claude --dangerously-load-development-channels server:agentbus`` (just ``claude`` with
``channels=False``) in ``home.project`` with AGENTBUS_NAME, AGENTBUS_HOME, ANTHROPIC_BASE_URL (the
FakeModel), ANTHROPIC_API_KEY, DISABLE_AUTOUPDATER=1 and TERM; presses Enter on the "Loading
development channels" warning; and returns once Claude Code's MCP log says the server is connected
(and, with channels, that its channel handler is registered). A reader thread drains the terminal
all the time (a full pty would stall the client) into ``screen`` and ``pty_log``.

Then: ``type_prompt(text)`` (typed, echoed, Enter), ``expect(regex)``, ``mcp_log`` (typed entries of
this session), ``session_id``, ``transcript_path``, ``adapter()`` / ``adapter_rss_kib()`` (the
server process below claude, found via /proc), and ``quit()`` (Ctrl-C twice, or ``/exit``) with a
deadline; ``close()`` kills whatever is left.
"""

import contextlib
import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Literal

import pexpect

from fakeclaude.live.home import SERVER_NAME, ClaudeHome
from fakeclaude.live.mcplog import ChannelsRegistered, Connected, McpLog
from fakeclaude.live.model import FakeModel
from fakeclaude.live.procs import Proc, descendants, find_adapter, pid_alive, read_proc, rss_kib
from fakeclaude.waiting import wait_until

CHANNELS_WARNING = re.compile(r"(?s)Loading.{0,40}development.{0,40}channels")
CTRL_C_AGAIN = re.compile(r"(?is)again.{0,40}to.{0,20}exit")
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def plain(text: str) -> str:
    """Terminal output without escape sequences."""
    return ANSI.sub("", text)


class LiveSession:
    """One real Claude Code process on a pseudo-terminal, in a scratch home, against a FakeModel."""

    def __init__(
        self,
        claude: Path,
        home: ClaudeHome,
        model: FakeModel,
        name: str | None = "bob",
        *,
        channels: bool = True,
        channel: str = f"server:{SERVER_NAME}",
        env: dict[str, str] | None = None,
        dimensions: tuple[int, int] = (50, 160),
    ) -> None:
        self.claude = Path(claude).absolute()
        self.home = home
        self.model = model
        self.name = name
        self.channels = channels
        self.argv = [str(self.claude)]
        if channels:
            self.argv += ["--dangerously-load-development-channels", channel]
        self.env = home.env(name, model.base_url, env)
        self.dimensions = dimensions
        self.pty_log = home.root / f"pty-{name or 'claude'}-{os.getpid()}-{id(self):x}.log"
        self.mcp_log = McpLog(home.mcp_log_dir, locate=lambda: home.mcp_log_dir)
        self.child: pexpect.spawn | None = None
        self.started_at: float | None = None
        self.exit_status: int | None = None
        self.connected: Connected | None = None
        self.registered: ChannelsRegistered | None = None
        self._screen: list[str] = []
        self._screen_len = 0
        self._eof = False
        self._cond = threading.Condition()
        self._reader: threading.Thread | None = None
        self._known: dict[int, Proc] = {}
        self._old_sessions: set[str] = set()

    # ------------------------------------------------------------------ start

    def spawn(self) -> "LiveSession":
        """Start the process and the terminal reader; nothing is answered yet."""
        self._old_sessions = {entry.session_id for entry in self.mcp_log.entries()}
        self.started_at = time.monotonic()
        self.child = pexpect.spawn(
            self.argv[0],
            self.argv[1:],
            env=self.env,
            cwd=str(self.home.project),
            dimensions=self.dimensions,
            encoding="utf-8",
            codec_errors="replace",
            timeout=None,
        )
        self._reader = threading.Thread(target=self._read, name=f"live-{self.name}-pty", daemon=True)
        self._reader.start()
        return self

    def start(self, timeout: float = 90.0) -> "LiveSession":
        """Spawn, confirm the development-channels warning, and wait until the server is connected."""
        self.spawn()
        if self.channels:
            self.expect(CHANNELS_WARNING, timeout, what="the 'Loading development channels' warning")
            self.send("\r")
        self.wait_connected(timeout)
        return self

    def wait_connected(self, timeout: float = 60.0) -> Connected:
        """This session's "Successfully connected" (and, with channels, "Channel notifications registered")."""
        self.connected = self.mcp_log.wait_for(
            Connected, timeout, lambda entry: self._new_session(entry.session_id), what="'Successfully connected'"
        )
        self.mcp_log.session_id = self.connected.session_id
        if self.channels:
            self.registered = self.mcp_log.wait_for(
                ChannelsRegistered, timeout, what="'Channel notifications registered'"
            )
        return self.connected

    def _new_session(self, session_id: str) -> bool:
        """A session id that had not logged before this process started (a home may hold older sessions)."""
        return session_id not in self._old_sessions

    # ------------------------------------------------------------------ terminal

    def _read(self) -> None:
        assert self.child is not None
        with open(self.pty_log, "w", encoding="utf-8") as log:
            while True:
                try:
                    chunk = self.child.read_nonblocking(65536, timeout=0.5)
                except pexpect.TIMEOUT:
                    continue
                except (pexpect.EOF, OSError, ValueError):
                    break
                log.write(chunk)
                log.flush()
                with self._cond:
                    self._screen.append(chunk)
                    self._screen_len += len(chunk)
                    self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    @property
    def screen(self) -> str:
        """Everything the terminal received so far (raw, with escape sequences)."""
        with self._cond:
            return "".join(self._screen)

    def screen_plain(self) -> str:
        return plain(self.screen)

    def mark(self) -> int:
        """The current end of the terminal output: ``expect(..., since=mark)`` looks only past it."""
        with self._cond:
            return self._screen_len

    def expect(
        self, pattern: re.Pattern[str] | str, timeout: float, *, since: int = 0, stripped: bool = False, what: str = ""
    ) -> re.Match[str]:
        """The first match of ``pattern`` in the terminal output after ``since``; TimeoutError otherwise."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                text = "".join(self._screen)[since:]
                match = regex.search(plain(text) if stripped else text)
                if match is not None:
                    return match
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._eof:
                    break
                self._cond.wait(remaining)
        why = "the terminal closed" if self._eof else f"not within {timeout:g}s"
        tail = plain("".join(self._screen)[since:])[-1500:]
        raise TimeoutError(f"{what or regex.pattern!r} never showed on Claude Code's terminal: {why}\n{tail}")

    def send(self, data: str) -> None:
        assert self.child is not None, "spawn() first"
        self.child.send(data)

    def type_prompt(self, text: str, timeout: float = 30.0) -> None:
        """Type ``text`` into the prompt, wait until the terminal echoes it, then press Enter.

        The echo is matched without spaces: the terminal may draw a space as a cursor move.
        """
        since = self.mark()
        self.send(text)
        echo = r"\s*".join(re.escape(char) for char in text if not char.isspace())
        self.expect(echo, timeout, since=since, stripped=True, what=f"the echo of the typed prompt {text!r}")
        self.send("\r")

    # ------------------------------------------------------------------ state

    @property
    def pid(self) -> int:
        assert self.child is not None
        assert self.child.pid is not None
        return self.child.pid

    @property
    def session_id(self) -> str:
        assert self.connected is not None, "not connected yet"
        return self.connected.session_id

    @property
    def transcript_path(self) -> Path:
        """``~/.claude/projects/<cwd key>/<session id>.jsonl`` of this session."""
        return self.home.transcript_path(self.session_id)

    def alive(self) -> bool:
        return self.child is not None and pid_alive(self.pid)

    def adapter(self, timeout: float = 30.0) -> Proc:
        """The adapter process (a descendant of claude running ``-m agentbus.adapters.claude_mcp``)."""
        proc = wait_until(lambda: find_adapter(self.pid), timeout, "the adapter process under claude")
        self._known[proc.pid] = proc
        return proc

    def adapter_rss_kib(self) -> int:
        """VmRSS of the adapter process, in KiB."""
        rss = rss_kib(self.adapter().pid)
        if rss is None:
            raise RuntimeError("the adapter exited before its RSS was read")
        return rss

    # ------------------------------------------------------------------ end

    def quit(self, how: Literal["ctrl-c", "exit"] = "ctrl-c", timeout: float = 30.0) -> int | None:
        """Quit as a user does (Ctrl-C twice, or ``/exit`` and Enter); the exit status, once it is gone.

        A Ctrl-C while a turn is running interrupts the turn instead of offering to exit, so Ctrl-C is
        pressed again until Claude Code says "Press Ctrl-C again to exit"; then once more.
        """
        assert self.child is not None
        self._remember_descendants()
        deadline = time.monotonic() + timeout
        if how == "exit":
            self.type_prompt("/exit", timeout)
        else:
            while not self._eof and time.monotonic() < deadline:
                since = self.mark()
                self.send("\x03")
                wait = min(3.0, max(0.1, deadline - time.monotonic()))
                try:
                    self.expect(CTRL_C_AGAIN, wait, since=since, stripped=True)
                except TimeoutError:
                    continue  # it interrupted a turn (or is already going): press again
                if not self._eof:
                    self.send("\x03")
                break
        wait_until(lambda: not pid_alive(self.pid), max(0.1, deadline - time.monotonic()), "claude to exit")
        return self._reap()

    def _reap(self) -> int | None:
        assert self.child is not None
        if self._reader is not None:
            self._reader.join(timeout=5)
        with contextlib.suppress(pexpect.ExceptionPexpect, OSError):
            self.child.close(force=True)
        self.exit_status = self.child.exitstatus if self.child.exitstatus is not None else self.child.signalstatus
        return self.exit_status

    def close(self) -> None:
        """Kill claude and anything it left behind (no-op when it has quit and its children are gone)."""
        if self.child is None:
            return
        if pid_alive(self.pid):
            self._remember_descendants()
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self._reap()
        for pid, proc in self._known.items():
            now = read_proc(pid)
            if now is not None and now.argv == proc.argv and pid_alive(pid):  # ours, not a reused pid
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def _remember_descendants(self) -> None:
        if self.child is not None:
            self._known.update((proc.pid, proc) for proc in descendants(self.pid))

    def __enter__(self) -> "LiveSession":
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()
