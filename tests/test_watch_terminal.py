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

    def __init__(self, where: Path, env: dict[str, str]) -> None:
        self.socket, self.config, self.env = where / "tmux.sock", where / "tmux.conf", env
        self.config.write_text("set -g remain-on-exit on\n")
        #: Where the pane's command leaves its exit status (tmux 3.3 does not always learn it).
        self.status = where / "status"

    def start(self, *command: str) -> None:
        """Run ``command`` in a 160x40 pane; a shell around it writes its exit status (128+N for signal N)."""
        wrapped = ["sh", "-c", 'status=$1; shift; "$@"; echo $? > "$status.part" && mv "$status.part" "$status"']
        self("new-session", "-d", "-s", TARGET, "-x", "160", "-y", "40", *wrapped, "sh", str(self.status), *command)

    def exit_status(self) -> int | None:
        return int(self.status.read_text()) if self.status.exists() else None

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = ["tmux", "-S", str(self.socket), "-f", str(self.config), *args]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, check=check, timeout=10)

    def pane(self) -> str:
        return self("capture-pane", "-p", "-t", TARGET).stdout

    def keys(self, *keys: str, literal: bool = False) -> None:
        self("send-keys", "-t", TARGET, *(("-l",) if literal else ()), *keys)

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


def _offers_quit(screen: str) -> bool | None:
    """Whether the footer (the line ending in ``^p palette``) lists ``q quit``; None while it lists no key."""
    footer = [line for line in screen.splitlines() if "^p palette" in line]
    keys = footer[-1].rpartition("▏")[0].strip() if footer else ""
    return "q quit" in keys if keys else None


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    made = Sandbox(tmp_path / "peers")
    yield made
    made.close_all()


@pytest.fixture
def tmux(sandbox: Sandbox) -> Iterator[Tmux]:
    # A short directory of its own: a unix socket path must stay under 108 bytes.
    with tempfile.TemporaryDirectory(prefix="agentbus-tmux-") as where:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTBUS_", "TMUX", "TEXTUAL"))}
        env.update(sandbox.env, TERM="xterm-256color", LANG="C.UTF-8")
        server = Tmux(Path(where), env)
        try:
            yield server
        finally:
            server("kill-server", check=False)


@pytest.mark.timeout(120)
def test_the_watch_sends_from_its_compose_line_in_a_real_terminal(sandbox: Sandbox, tmux: Tmux) -> None:
    bob = sandbox.start_session("bob")
    tmux.start(sys.executable, "-m", "agentbus.cli", "watch", "--as", "lead")

    tmux.until(lambda screen: re.search(r"^ *bob +claude-mcp .* live *$", screen, re.M) is not None, "bob listed live")
    # Focus moves after the keys already read; the footer losing "q quit" says the compose line has it.
    tmux.keys("c")
    tmux.until(lambda screen: _offers_quit(screen) is False, "the compose line to take the keys")
    tmux.keys("bob: hello from tmux", literal=True)
    tmux.until(lambda screen: "bob: hello from tmux" in screen, "the text on the compose line")
    tmux.keys("Enter")
    event = bob.wait_for_channel(timeout=STEP)
    assert event.content == "hello from tmux"
    assert event.meta["from"] == "lead"
    row = re.compile(rf"^ *{event.meta['msg_id']} +\d\d:\d\d:\d\d +lead → bob +\w+ +hello from tmux *$", re.M)
    tmux.until(lambda screen: row.search(screen) is not None, "the message's row")

    # Off the compose line (where q is a letter typed) until the footer offers quit, then quit.
    if not _offers_quit(tmux.pane()):
        tmux.keys("Tab")
        tmux.until(lambda screen: _offers_quit(screen) is True, "the footer to offer q quit")
    tmux.keys("q")
    deadline = time.monotonic() + 5.0
    while (status := tmux.exit_status()) is None:
        assert time.monotonic() < deadline, f"the watch still runs 5 s after q; the pane shows:\n{tmux.pane()}"
        time.sleep(0.05)
    assert status == 0, f"the watch exited with {status}; the pane shows:\n{tmux.pane()}"
