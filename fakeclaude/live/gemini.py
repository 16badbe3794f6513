"""The real Gemini CLI, offline, in a pseudo-terminal: a scratch HOME for it, the session, its chat record.

``GeminiHome.create(root, bus_home)`` makes ``root/home`` (HOME) and ``root/project`` (the session's
cwd); ``settings`` starts as ``OFFLINE_SETTINGS`` (gemini-api-key auth, folder trust, auto-update,
IDE integration, usage statistics and telemetry off) and a test may extend it (``mcpServers``,
``hooks``, ``tools``) before the session starts, which writes it to ``~/.gemini/settings.json``.

``LiveGemini(binary, home, api, name="gem").start()`` runs ``gemini --session-id <uuid>`` in
``home.project`` with HOME, GOOGLE_GEMINI_BASE_URL (the ``FakeGeminiApi``), GEMINI_API_KEY, TERM,
NO_BROWSER and AGENTBUS_NAME/AGENTBUS_HOME, and returns once the input box shows its placeholder and
the window title says Ready. A reader thread drains the terminal into ``screen`` (a full pty would
stall the client) and keeps every window title Gemini CLI sets (``titles``): "◇  Ready (dir)" when
idle, "✦  Working… (dir)" while a turn runs, "✋  Action Required (dir)" at a confirmation.

Then: ``type_prompt(text)``, ``expect(regex)``, ``wait_idle()``, ``cli_pid()`` (the node process
that runs the session and starts hooks and MCP servers: ``gemini`` re-launches itself once as a
child with a larger heap), ``chat_record_path()`` (``~/.gemini/tmp/<project>/chats/session-<start
minute>-<session id[:8]>.jsonl``, which is also a hook's ``transcript_path``) and ``chat_messages()``,
``quit()`` (Ctrl-C twice, or ``/quit``) with a deadline, and ``close()``, which kills what is left.
"""

import contextlib
import copy
import json
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pexpect

from fakeclaude.live.driver import plain
from fakeclaude.live.gemini_api import FakeGeminiApi
from fakeclaude.live.home import PASSED_THROUGH
from fakeclaude.live.procs import Proc, descendants, pid_alive, read_proc
from fakeclaude.waiting import wait_until

#: The key Gemini CLI sends as ``x-goog-api-key`` (only the fake API sees it).
FAKE_API_KEY = "agentbus-live-fake-gemini-key"
#: What a scripted session needs: no network but the API, no dialog, nothing to confirm at start.
OFFLINE_SETTINGS: dict[str, Any] = {
    "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
    "privacy": {"usageStatisticsEnabled": False},
    "telemetry": {"enabled": False},
    "security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": False}},
    "ide": {"enabled": False, "hasSeenNudge": True},
    "ui": {"hideWindowTitle": False, "dynamicWindowTitle": True},
}
#: The input box's placeholder: the TUI is drawn and takes input (Gemini's own test rig waits for it).
PLACEHOLDER = re.compile(r"Type your message or @path/to/file")
CTRL_C_AGAIN = re.compile(r"Press Ctrl\+C again to exit")
TITLE = re.compile(r"\x1b\][02];([^\x07\x1b]*)(?:\x07|\x1b\\)")
READY = "\u25c7"
#: Gemini CLI turns an Enter that comes within 30 ms of the last typed key into a newline
#: (``bufferFastReturn``); Enter is sent no sooner than this after the last key.
FAST_RETURN = 0.06


@dataclass
class GeminiHome:
    """The directories and settings of one scratch Gemini CLI user."""

    root: Path
    home: Path
    project: Path
    bus_home: Path | None = None
    settings: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(OFFLINE_SETTINGS))

    @classmethod
    def create(cls, root: Path, bus_home: Path | None = None) -> "GeminiHome":
        root = Path(root).resolve()
        made = cls(root, root / "home", root / "project", Path(bus_home).resolve() if bus_home else None)
        (made.home / ".gemini").mkdir(mode=0o700, parents=True, exist_ok=True)
        made.project.mkdir(parents=True, exist_ok=True)
        made.write_settings()
        return made

    @property
    def settings_file(self) -> Path:
        return self.home / ".gemini" / "settings.json"

    def write_settings(self) -> Path:
        self.settings_file.write_text(json.dumps(self.settings, indent=2))
        return self.settings_file

    def env(self, base_url: str, name: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of a session in this home, talking to the API at ``base_url``."""
        env = {key: os.environ[key] for key in PASSED_THROUGH if key in os.environ}
        env.setdefault("PATH", os.defpath)
        env.update(
            HOME=str(self.home),
            GOOGLE_GEMINI_BASE_URL=base_url,
            GEMINI_API_KEY=FAKE_API_KEY,
            TERM="xterm-256color",
            NO_BROWSER="true",
        )
        if self.bus_home is not None:
            env["AGENTBUS_HOME"] = str(self.bus_home)
        if name is not None:
            env["AGENTBUS_NAME"] = name
        env.update(extra or {})
        return env

    def chat_record_path(self, session_id: str) -> Path | None:
        """The chat record of ``session_id`` (under any project's directory), None before it is written."""
        pattern = f"tmp/*/chats/session-*-{session_id[:8]}.jsonl"
        for path in sorted((self.home / ".gemini").glob(pattern)):
            with contextlib.suppress(OSError, ValueError, IndexError):
                if json.loads(path.read_text().splitlines()[0]).get("sessionId") == session_id:
                    return path
        return None


def chat_messages(path: Path) -> list[dict[str, Any]]:
    """The messages of a chat record, read as Gemini CLI reads it (``loadConversationRecord``).

    Each line is a record: the metadata (``sessionId``, ``projectHash``, ``startTime``, ``kind``), a
    message (``id``, ``timestamp``, ``type``: user / gemini / info / warning / error, ``content``; a
    message written again under its id replaces the first, e.g. with its ``toolCalls``), ``{"$set":
    {...}}`` (``messages`` replaces them all) or ``{"$rewindTo": id}`` (drops that message and later ones).
    """
    messages: dict[str, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line being written
        if not isinstance(record, dict):
            continue
        if isinstance(record.get("$rewindTo"), str):
            ids = list(messages)
            cut = ids.index(record["$rewindTo"]) if record["$rewindTo"] in ids else 0
            messages = {key: messages[key] for key in ids[:cut]}
        elif isinstance(record.get("id"), str):
            messages[record["id"]] = record
        elif isinstance(record.get("$set"), dict) and isinstance(record["$set"].get("messages"), list):
            messages = {m["id"]: m for m in record["$set"]["messages"] if isinstance(m, dict) and "id" in m}
    return list(messages.values())


class LiveGemini:
    """One real Gemini CLI process on a pseudo-terminal, in a scratch home, against a FakeGeminiApi."""

    def __init__(
        self,
        binary: Path,
        home: GeminiHome,
        api: FakeGeminiApi,
        *,
        env: dict[str, str] | None = None,
        name: str | None = "gem",
        args: tuple[str, ...] = (),
        session_id: str | None = None,
        dimensions: tuple[int, int] = (50, 160),
    ) -> None:
        self.binary = Path(binary).absolute()
        self.home = home
        self.api = api
        self.name = name
        self.session_id = session_id or str(uuid.uuid4())
        self.argv = [str(self.binary), "--session-id", self.session_id, *args]
        self.env = home.env(api.base_url, name, env)
        self.dimensions = dimensions
        self.pty_log = home.root / f"pty-{name or 'gemini'}-{os.getpid()}-{id(self):x}.log"
        self.child: pexpect.spawn | None = None
        self.started_at: float | None = None
        self.exit_status: int | None = None
        self._screen: list[str] = []
        self._screen_len = 0
        self._titles: list[tuple[float, str]] = []
        self._title_tail = ""
        self._eof = False
        self._cond = threading.Condition()
        self._reader: threading.Thread | None = None
        self._known: dict[int, Proc] = {}

    # ------------------------------------------------------------------ start

    def spawn(self) -> "LiveGemini":
        """Write the home's settings, start the process and the terminal reader; nothing is awaited."""
        self.home.write_settings()
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
        self._reader = threading.Thread(target=self._read, name=f"gemini-{self.name}-pty", daemon=True)
        self._reader.start()
        return self

    def start(self, timeout: float = 60.0) -> "LiveGemini":
        """Spawn and wait until the input box is drawn and the window title says Ready."""
        self.spawn()
        self.expect(PLACEHOLDER, timeout, stripped=True, what="the input box")
        self.wait_title(lambda title: title.startswith(READY), timeout, what="a Ready window title")
        return self

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
                    self._take_titles(chunk)
                    self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _take_titles(self, chunk: str) -> None:
        """Collect the window titles (OSC 0/2) in the output; a sequence may be split across chunks."""
        now = time.monotonic()
        text = self._title_tail + chunk
        end = 0
        for match in TITLE.finditer(text):
            self._titles.append((now, match.group(1).strip()))
            end = match.end()
        rest = text[end:]
        start = rest.rfind("\x1b]")
        self._title_tail = rest[start:] if start != -1 else ""

    @property
    def screen(self) -> str:
        """Everything the terminal received so far (raw, with escape sequences)."""
        with self._cond:
            return "".join(self._screen)

    def screen_plain(self) -> str:
        return plain(self.screen)

    @property
    def titles(self) -> list[tuple[float, str]]:
        """Every window title so far: (``time.monotonic()`` when read, title)."""
        with self._cond:
            return list(self._titles)

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
        raise TimeoutError(f"{what or regex.pattern!r} never showed on Gemini CLI's terminal: {why}\n{tail}")

    def wait_title(
        self, check: Callable[[str], bool], timeout: float, *, after: float = 0.0, what: str = "a window title"
    ) -> tuple[float, str]:
        """The first title set after monotonic time ``after`` for which ``check(title)`` holds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = next((entry for entry in self._titles if entry[0] >= after and check(entry[1])), None)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._eof:
                    break
                self._cond.wait(remaining)
        seen = [title for _at, title in self._titles if _at >= after]
        raise TimeoutError(f"{what} never came (titles since: {seen})")

    def wait_idle(self, timeout: float, *, since: float) -> float:
        """The time Gemini CLI went back to Ready after working, at or after monotonic time ``since``.

        A turn shows "✦  Working…" then "◇  Ready"; a turn an AfterAgent hook sends back shows Ready
        for a moment in between, so wait for the request that ends the turn first.
        """
        working_at, _title = self.wait_title(
            lambda title: not title.startswith(READY), timeout, after=since, what="a Working window title"
        )
        ready_at, _title = self.wait_title(
            lambda title: title.startswith(READY), timeout, after=working_at, what="a Ready window title"
        )
        return ready_at

    def send(self, data: str) -> None:
        assert self.child is not None, "spawn() first"
        self.child.send(data)

    def type_prompt(self, text: str, timeout: float = 30.0) -> None:
        """Type ``text`` into the input box, wait until the terminal echoes it, then press Enter.

        The echo is matched without spaces: the terminal may draw a space as a cursor move.
        """
        since = self.mark()
        self.send(text)
        typed_at = time.monotonic()
        echo = r"\s*".join(re.escape(char) for char in text if not char.isspace())
        self.expect(echo, timeout, since=since, stripped=True, what=f"the echo of the typed prompt {text!r}")
        time.sleep(max(0.0, typed_at + FAST_RETURN - time.monotonic()))
        self.send("\r")

    # ------------------------------------------------------------------ state

    @property
    def pid(self) -> int:
        """The process the pty runs: ``gemini``'s launcher, which re-launches the CLI as its child."""
        assert self.child is not None
        assert self.child.pid is not None
        return self.child.pid

    def cli_pid(self, timeout: float = 30.0) -> int:
        """The node process that runs the session (the launcher's child, GEMINI_CLI_NO_RELAUNCH)."""
        return wait_until(
            lambda: next((proc.pid for proc in descendants(self.pid) if proc.ppid == self.pid), None),
            timeout,
            "the re-launched Gemini CLI under its launcher",
        )

    def alive(self) -> bool:
        return self.child is not None and pid_alive(self.pid)

    def chat_record_path(self) -> Path | None:
        """``~/.gemini/tmp/<project>/chats/session-<start>-<id[:8]>.jsonl`` (None until it is written)."""
        return self.home.chat_record_path(self.session_id)

    def chat_messages(self) -> list[dict[str, Any]]:
        path = self.chat_record_path()
        return chat_messages(path) if path is not None else []

    def processes(self) -> Iterator[Proc]:
        """Every process below the launcher now (the CLI, its hooks, MCP servers and shells)."""
        yield from descendants(self.pid) if self.child is not None else ()

    # ------------------------------------------------------------------ end

    def quit(self, how: Literal["ctrl-c", "quit"] = "ctrl-c", timeout: float = 30.0) -> int | None:
        """Quit as a user does (Ctrl-C twice, or ``/quit`` and Enter); the exit status, once it is gone.

        A Ctrl-C during a turn cancels the turn instead of offering to exit, so Ctrl-C is pressed
        again until Gemini CLI says "Press Ctrl+C again to exit."; then once more.
        """
        assert self.child is not None
        self._remember_descendants()
        deadline = time.monotonic() + timeout
        if how == "quit":
            self.type_prompt("/quit", timeout)
        else:
            while not self._eof and time.monotonic() < deadline:
                since = self.mark()
                self.send("\x03")
                try:
                    self.expect(
                        CTRL_C_AGAIN, min(3.0, max(0.1, deadline - time.monotonic())), since=since, stripped=True
                    )
                except TimeoutError:
                    continue  # it cancelled a turn (or is already going): press again
                if not self._eof:
                    self.send("\x03")
                break
        wait_until(lambda: not pid_alive(self.pid), max(0.1, deadline - time.monotonic()), "gemini to exit")
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
        """Kill gemini and anything it left behind (no-op when it has quit and its children are gone)."""
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

    def __enter__(self) -> "LiveGemini":
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()
