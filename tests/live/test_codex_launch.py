"""The user's path with the real Codex TUI: ``agentbus enable codex``, ``agentbus launch codex cx``, ping -> pong, quit.

``~/.codex/config.toml`` holds only the loopback model provider until ``agentbus enable codex``
appends our table; ``agentbus launch codex cx`` runs in a pseudo-terminal (the app-server on its
socket, the stock TUI on it); a claude-mcp peer's ping reaches the TUI's thread and the pong comes
back; Ctrl-C twice quits the TUI, and launch stops the app-server and removes its socket.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import pexpect

from agentbus.cli.codex_session import socket_path
from agentbus.core.config import Settings
from fakeclaude import Sandbox
from fakeclaude.live.codex import KEY_VARIABLE
from fakeclaude.live.responses import FakeResponses
from fakeclaude.waiting import wait_until

STEP = 60.0


def _agentbus(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentbus.cli", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_enable_and_launch_codex_with_the_real_tui(
    codex: Path, tmp_path: Path, peers: Sandbox, responses: FakeResponses
) -> None:
    home, project = tmp_path / "home", tmp_path / "project"
    (home / ".codex").mkdir(parents=True)
    project.mkdir()
    (home / ".codex" / "config.toml").write_text(
        f'model = "fake-model"\nmodel_provider = "fake"\n\n[model_providers.fake]\nname = "fake"\n'
        f'base_url = "{responses.base_url}"\nwire_api = "responses"\nenv_key = "{KEY_VARIABLE}"\n'
    )
    env = {
        "PATH": f"{codex.parent}:/usr/bin:/bin",
        "HOME": str(home),
        "AGENTBUS_HOME": str(peers.bus_home),
        KEY_VARIABLE: "fake",
        "TERM": "xterm-256color",
    }
    enabled = _agentbus(env, "enable", "codex")
    assert enabled.returncode == 0, enabled.stderr
    tui = pexpect.spawn(
        sys.executable,
        ["-m", "agentbus.cli", "launch", "codex", "cx"],
        env=env,
        cwd=str(project),
        dimensions=(40, 140),
        encoding="utf-8",
        codec_errors="replace",
        timeout=5,
    )
    screen: list[str] = []

    def online() -> bool:
        with_drain(tui, screen)
        peers_json = _agentbus(env, "peers", "--json").stdout or "[]"
        return any(peer.get("name") == "cx" for peer in json.loads(peers_json))

    try:
        wait_until(
            online, STEP, "cx (the codex adapter under the TUI) to come online", describe=lambda: "".join(screen)[-800:]
        )
        alice = peers.start_session("alice")
        started = time.monotonic()
        sent = alice.call_tool("send_message", {"to": "cx", "text": "ping"}, timeout=STEP)
        assert not sent.is_error, sent.text
        pong = alice.wait_for_channel(lambda event: event.content == "pong", timeout=STEP)
        assert pong.meta["from"] == "cx"
        assert pong.meta.get("reply_to") == str(sent.json()["msg_id"])
        print(f"codex TUI round trip ping -> pong: {(pong.received_at - started) * 1000:.0f} ms")
        tui.sendcontrol("c")
        with_drain(tui, screen, 0.5)
        tui.sendcontrol("c")
        wait_until(lambda: not with_drain(tui, screen) and not tui.isalive(), 30, "the TUI and launch to exit")
    finally:
        tui.terminate(force=True)
    socket = socket_path(Settings.from_env({"AGENTBUS_HOME": str(peers.bus_home)}), "cx")
    assert not socket.exists(), f"launch left the app-server's socket {socket}"


def with_drain(child: pexpect.spawn, screen: list[str], seconds: float = 0.0) -> bool:
    """Read what the terminal has (a full pty would stall the TUI); False, so it can sit in a condition."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            screen.append(child.read_nonblocking(65536, timeout=0.05))
        except (pexpect.TIMEOUT, pexpect.EOF):
            if time.monotonic() >= deadline:
                return False
