"""A message between a claude-mcp peer and a live Codex thread, both ways, through the real codex binary.

The real ``codex app-server`` runs offline against FakeResponses, with the codex adapter as its MCP
server ``agentbus``; a client of the app-server starts the session's thread as the TUI does. alice
(a fakeclaude claude-mcp session) sends ``ping``; the adapter hands it to the thread as user input
(``turn/start``); the fake model answers with the agentbus ``send_message`` tool; the pong comes back
to alice. The test skips, with npm's reason, only when the registry cannot be reached.
"""

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from fakeclaude import Sandbox
from fakeclaude.live.codex import AppServer, AppServerClient, CodexHome
from fakeclaude.live.install import CODEX_VERSIONS
from fakeclaude.live.model import channel_tags
from fakeclaude.live.responses import FakeResponses, ResponsesRequest
from fakeclaude.waiting import wait_until
from live.support import agentbus_cli, peers_on_bus

STEP = 60.0


def test_ping_pong_between_a_claude_peer_and_a_live_codex_thread(
    codex: Path,
    tmp_path: Path,
    peers: Sandbox,
    responses: FakeResponses,
    record_property: Callable[[str, object], None],
) -> None:
    home = CodexHome.create(tmp_path / "codex", peers.bus_home, responses.base_url, sys.executable)
    server = AppServer(codex, home, "cx").start()
    tui: AppServerClient | None = None
    try:
        tui = AppServerClient(server.socket, name="tui")
        thread = tui.start_thread(home.project)
        wait_until(
            lambda: any(peer.get("name") == "cx" for peer in peers_on_bus(peers)),
            STEP,
            "the codex adapter (Codex's MCP server agentbus) to register as cx",
            describe=server.stderr,
        )
        doctor = _doctor(codex, home, server.socket)
        answered = [c for c in doctor if c["id"] == "codex.app-server.app-server"]
        assert answered, f"doctor on the live app-server: {answered or doctor}"
        assert answered[0]["status"] == "pass", f"doctor on the live app-server: {answered or doctor}"
        alice = peers.start_session("alice")
        started = time.monotonic()
        sent = alice.call_tool("send_message", {"to": "cx", "text": "ping"}, timeout=STEP)
        assert not sent.is_error, sent.text
        ping_id = str(sent.json()["msg_id"])
        pong = alice.wait_for_channel(lambda event: event.content == "pong", timeout=STEP)
        round_trip_ms = (pong.received_at - started) * 1000
        assert pong.meta["from"] == "cx", pong.meta
        assert pong.meta.get("reply_to") == ping_id, pong.meta

        def saw_ping(request: ResponsesRequest) -> bool:
            tags = [tag for text in request.last_user_texts() for tag in channel_tags(text)]
            return any(tag.body == "ping" and tag.attributes.get("from") == "alice" for tag in tags)

        assert responses.wait_for(saw_ping, 0) is not None, "Codex's model never saw the ping as user input"
        print(f"codex {CODEX_VERSIONS[-1]}: round trip ping -> pong {round_trip_ms:.0f} ms (thread {thread})")
        record_property("live figure: codex round trip ping -> pong", f"{round_trip_ms:.0f} ms")
    finally:
        if tui is not None:
            tui.close()
        server.close()
    # Codex ends its MCP servers with SIGKILL (tokio's kill_on_drop) when it exits, so the adapter cannot
    # unregister; the bus knows its pid is gone, and it is no longer listed as online.
    wait_until(lambda: "cx" not in _online(peers), 20, "cx to be offline once Codex is gone")


def _doctor(codex: Path, home: CodexHome, socket: Path) -> list[dict[str, object]]:
    """``agentbus doctor --json`` as the Codex user (its HOME, codex on PATH), told where the app-server is."""
    env = {"PATH": f"{codex.parent}:/usr/bin:/bin", "HOME": str(home.home), "AGENTBUS_HOME": str(home.bus_home)}
    done = subprocess.run(
        [sys.executable, "-m", "agentbus.cli", "doctor", "--json", "--no-spawn"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**env, "AGENTBUS_CODEX_SOCKET": str(socket)},
    )
    return list(json.loads(done.stdout)["checks"])


def _online(bus: Sandbox) -> set[str]:
    return {str(peer.get("name")) for peer in json.loads(agentbus_cli(bus, "peers", "--json").stdout or "[]")}
