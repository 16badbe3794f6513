"""agentbus watch in a real terminal: the command run in a detached tmux pane, driven by keys, read by capture-pane."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fakeclaude import Sandbox

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux to run the watch in a real terminal")
STEP = 15.0
TARGET = "watch"


class Tmux:
    """One private tmux server (its own socket and config), holding the watch in one pane."""

    def __init__(self, socket: Path, config: Path, env: dict[str, str]) -> None:
        self.socket, self.config, self.env = socket, config, env

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = ["tmux", "-S", str(self.socket), "-f", str(self.config), *args]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, check=check, timeout=10)

    def pane(self) -> str:
        return self("capture-pane", "-p", "-t", TARGET).stdout

    def keys(self, *keys: str, literal: bool = False) -> None:
        self("send-keys", "-t", TARGET, *(("-l",) if literal else ()), *keys)

    def ended(self) -> str | None:
        """How the pane's process ended (remain-on-exit keeps the pane): ``exit N``, or ``pane gone``; None while it
        runs. tmux 3.3 marks a pane dead when its terminal closes and learns the status a moment later, when it reaps
        the process (never, for a signal: it shows no status then)."""
        done = self("display-message", "-p", "-t", TARGET, "#{pane_dead}|#{pane_dead_status}", check=False)
        if done.returncode != 0:
            return "pane gone"
        dead, _, status = done.stdout.strip().partition("|")
        return f"exit {status}" if dead == "1" and status else None

    def until(self, check: Callable[[str], bool], what: str, timeout: float = STEP) -> str:
        """Poll the pane (the terminal's event) until ``check(screen)``; the screen it held on."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.pane()
            if check(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; the pane shows:\n{screen}")
            time.sleep(0.05)


def _offers_quit(screen: str, otherwise: bool) -> bool:
    """Whether the footer (the line with ``^p palette``) lists ``q quit``; ``otherwise`` while it is not drawn."""
    footer = [line for line in screen.splitlines() if "^p palette" in line]
    return "q quit" in footer[-1] if footer else otherwise


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    made = Sandbox(tmp_path / "peers")
    yield made
    made.close_all()


@pytest.fixture
def tmux(sandbox: Sandbox) -> Iterator[Tmux]:
    # A short directory of its own: a unix socket path must stay under 108 bytes.
    with tempfile.TemporaryDirectory(prefix="agentbus-tmux-") as where:
        config = Path(where) / "tmux.conf"
        config.write_text("set -g remain-on-exit on\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTBUS_", "TMUX", "TEXTUAL"))}
        env.update(sandbox.env, TERM="xterm-256color", LANG="C.UTF-8")
        server = Tmux(Path(where) / "tmux.sock", config, env)
        try:
            yield server
        finally:
            server("kill-server", check=False)


@pytest.mark.timeout(120)
def test_the_watch_sends_from_its_compose_line_in_a_real_terminal(sandbox: Sandbox, tmux: Tmux) -> None:
    bob = sandbox.start_session("bob")
    watch = [sys.executable, "-m", "agentbus.cli", "watch", "--as", "lead"]
    tmux("new-session", "-d", "-s", TARGET, "-x", "160", "-y", "40", *watch)

    tmux.until(lambda screen: re.search(r"^ *bob +claude-mcp .* live *$", screen, re.M) is not None, "bob listed live")
    # Focus moves after the keys already read; the footer losing "q quit" says the compose line has it.
    tmux.keys("c")
    tmux.until(lambda screen: not _offers_quit(screen, True), "the compose line to take the keys")
    tmux.keys("bob: hello from tmux", literal=True)
    tmux.until(lambda screen: "▊  bob: hello from tmux" in screen, "the text on the compose line")
    tmux.keys("Enter")
    event = bob.wait_for_channel(timeout=STEP)
    assert event.content == "hello from tmux"
    assert event.meta["from"] == "lead"
    row = re.compile(rf"^ *{event.meta['msg_id']} +\d\d:\d\d:\d\d +lead → bob +\w+ +hello from tmux *$", re.M)
    tmux.until(lambda screen: row.search(screen) is not None, "the message's row")

    # Off the compose line (where q is a letter typed) until the footer offers quit, then quit.
    if not _offers_quit(tmux.pane(), False):
        tmux.keys("Tab")
        tmux.until(lambda screen: _offers_quit(screen, False), "the footer to offer q quit")
    tmux.keys("q")
    deadline = time.monotonic() + 5.0
    while (ended := tmux.ended()) is None:
        assert time.monotonic() < deadline, (
            f"no exit status 5 s after q (still running, or killed by a signal):\n{tmux.pane()}"
        )
        time.sleep(0.05)
    assert ended in ("exit 0", "pane gone"), f"the watch ended with {ended}; the pane shows:\n{tmux.pane()}"
