"""A plain ``codex`` (no launch wrapper) receives a message and its model's reply comes back.

The stock TUI runs its thread on its user's managed app-server daemon (``codex app-server --listen
unix:// --managed-daemon``, started by the TUI, left running after it) and starts the thread's MCP
servers under that daemon. The codex adapter finds the daemon's control socket from its parent's
command line and pushes through it: mail queued before the session started reaches the model, and a
ping is answered with a pong. The daemon lives in the test's HOME and is ended with it. That HOME's
path is long: Codex makes the control socket a symlink to a short path, which the adapter follows.
"""

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pexpect

from fakeclaude import Sandbox
from fakeclaude.live.codex import KEY_VARIABLE, CodexHome
from fakeclaude.live.procs import all_procs
from fakeclaude.live.responses import FakeResponses
from fakeclaude.waiting import wait_until
from live.support import agentbus_cli, peers_on_bus

STEP = 60.0


def test_a_plain_codex_session_receives_and_answers(
    codex: Path,
    tmp_path: Path,
    peers: Sandbox,
    responses: FakeResponses,
    record_property: Callable[[str, object], None],
) -> None:
    home = CodexHome.create(tmp_path / "codex", peers.bus_home, responses.base_url, sys.executable)
    env = {
        "PATH": f"{codex.parent}:/usr/bin:/bin",
        "HOME": str(home.home),
        "AGENTBUS_HOME": str(peers.bus_home),
        "AGENTBUS_NAME": "cx",
        KEY_VARIABLE: "fake",
        "TERM": "xterm-256color",
    }
    alice = peers.start_session("alice")
    queued = alice.call_tool("send_message", {"to": "cx", "text": "ping"}, timeout=STEP)
    queued_id = str(queued.json()["msg_id"])
    started = time.monotonic()
    tui = pexpect.spawn(str(codex), [], env=env, cwd=str(home.project), dimensions=(40, 140), timeout=5)
    screen: list[bytes] = []
    try:

        def pong_to(message_id: str) -> bool:
            _drain(tui, screen)
            return any(e.content == "pong" and e.meta.get("reply_to") == message_id for e in alice.channel_events)

        wait_until(
            lambda: pong_to(queued_id),
            STEP,
            "the pong to mail queued before codex started",
            describe=lambda: f"{_tail(screen)}\n{agentbus_cli(peers, 'status', queued_id).stdout}",
        )
        first_ms = (time.monotonic() - started) * 1000
        row = next(peer for peer in peers_on_bus(peers) if peer.get("name") == "cx")
        assert row.get("door") == "app-server", row
        assert row.get("can_push") is True, row
        ping_at = time.monotonic()
        sent = alice.call_tool("send_message", {"to": "cx", "text": "ping"}, timeout=STEP)
        ping_id = str(sent.json()["msg_id"])
        wait_until(lambda: pong_to(ping_id), STEP, "the pong to a ping", describe=lambda: _tail(screen))
        round_trip_ms = (time.monotonic() - ping_at) * 1000
        print(f"plain codex: queued ping answered {first_ms:.0f} ms after the TUI started; ping {round_trip_ms:.0f} ms")
        record_property("live figure: plain codex round trip ping -> pong", f"{round_trip_ms:.0f} ms")
        record_property("live figure: plain codex, TUI start -> pong to queued mail", f"{first_ms:.0f} ms")
    finally:
        tui.terminate(force=True)
        _end_processes_under(home.home)


def _drain(child: pexpect.spawn, screen: list[bytes]) -> None:
    """Read what the terminal has (a full pty would stall the TUI)."""
    while True:
        try:
            screen.append(child.read_nonblocking(65536, timeout=0.05))
        except (pexpect.TIMEOUT, pexpect.EOF):
            return


def _tail(screen: list[bytes]) -> str:
    return b"".join(screen)[-800:].decode("utf-8", "replace")


def _end_processes_under(home: Path) -> None:
    """The managed app-server daemon (and its MCP servers) a plain codex leaves running, in this HOME only."""
    mine = [proc.pid for proc in all_procs() if any(str(home) in arg for arg in proc.argv[:1])]
    for pid in mine:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
