"""agentbus as a Claude Code plugin: marketplace add + plugin install with the real binary, then a session
answers pings (its first start builds the private virtualenv): a plain ``claude`` through its messaging
socket where the release has one, else a session launched with the plugin's channel."""

import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fakeclaude import ChannelTimeout, Sandbox
from fakeclaude.live.driver import LiveSession
from fakeclaude.live.home import ClaudeHome
from fakeclaude.live.model import FakeModel, Rule, default_rules
from live.support import assert_clean_exit

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_ID = "agentbus@agentbus"
#: Claude Code names a plugin's MCP server ``plugin_<plugin>_<server>`` in tool names.
TOOL_SERVER = "plugin_agentbus_agentbus"
STEP = 60.0
#: Pings after the first; their median is the round trip figure.
PINGS = 5


@pytest.fixture
def model_rules() -> list[Rule]:
    return default_rules(TOOL_SERVER)


def clean_copy(target: Path) -> Path:
    """The repository as a clone has it (tracked and new files, no virtualenv or caches): what a user
    adds as a marketplace, by path or from GitHub."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / name.decode()
        if source.is_file():
            (target / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            (target / name.decode()).write_bytes(source.read_bytes())
    return target


def claude_cli(claude: Path, home: ClaudeHome, *args: str) -> float:
    """Run ``claude ARGS`` non-interactively in the scratch home; its wall time in seconds."""
    started = time.monotonic()
    done = subprocess.run(
        [str(claude), *args],
        env=home.env(None, "http://127.0.0.1:9"),
        cwd=home.project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"claude {' '.join(args)} exited {done.returncode}: {done.stdout}{done.stderr}"
    return time.monotonic() - started


FIRST_START_TIMEOUT_MS = 180_000


@pytest.mark.timeout(420)
def test_plugin_from_the_marketplace_answers_a_ping(
    claude: Path,
    tmp_path: Path,
    peers: Sandbox,
    model: FakeModel,
    live_figure: Callable[[str, object], None],
    native_door: bool,
) -> None:
    home = ClaudeHome.create(
        tmp_path / "claude",
        peers.bus_home,
        register=False,
        allow=(f"mcp__{TOOL_SERVER}__*",),
    )
    home.log_server = "plugin-agentbus-agentbus"
    marketplace = clean_copy(tmp_path / "marketplace")
    added = claude_cli(claude, home, "plugin", "marketplace", "add", str(marketplace))
    installed = claude_cli(claude, home, "plugin", "install", PLUGIN_ID)
    assert "mcpServers" not in home.config(), "the plugin, not ~/.claude.json, provides the server"

    def launch(env: dict[str, str] | None = None) -> LiveSession:
        session = LiveSession(
            claude, home, model, "bob", channels=not native_door, channel=f"plugin:{PLUGIN_ID}", env=env
        )
        return session.start(timeout=200)

    # The first start pip-installs the plugin: 16 s on a quiet machine, past Claude Code's 30 s connect
    # limit under CI's load. MCP_TIMEOUT (ms) is Claude Code's own knob for it (README says so).
    bob = launch({"MCP_TIMEOUT": str(FIRST_START_TIMEOUT_MS)})
    assert bob.connected is not None
    assert native_door or bob.registered is not None
    first_start_ms = bob.connected.ms
    venvs = list((home.config_dir / "plugins" / "data").glob("*/venv-*/.agentbus-ready"))
    assert len(venvs) == 1, "the first start builds one private virtualenv under the plugin's data directory"

    alice = peers.start_session("alice")
    trips = []
    for _ in range(1 + PINGS):
        started = time.monotonic()
        sent = alice.call_tool("send_message", {"to": "bob", "text": "ping"}, timeout=STEP)
        assert not sent.is_error, sent.text
        ping_id = str(sent.json()["msg_id"])
        try:
            pong = alice.wait_for_channel(
                lambda e, i=ping_id: e.content == "pong" and e.meta.get("reply_to") == i, STEP
            )
        except ChannelTimeout:
            tools = sorted({name for request in model.requests for name in request.tool_names})
            raise AssertionError(
                f"no pong; the model was asked {len(model.requests)} time(s), offered {tools}"
            ) from None
        assert pong.meta["from"] == "bob", pong.meta
        trips.append((pong.received_at - started) * 1000)
        over = model.wait_for(lambda r, t=started: r.at > t and r.last_user_is_tool_result() and r.replied_at, STEP)
        assert over is not None, "the model never answered the result of its send_message"  # its turn is over
    adapter = bob.adapter()
    bob.quit()
    assert_clean_exit(bob, adapter.pid, peers, "bob")

    again = launch()  # a later start only checks the marker and execs the adapter
    assert again.connected is not None
    live_figure("plugin marketplace add", f"{added:.1f} s")
    live_figure("plugin install", f"{installed:.1f} s")
    live_figure("plugin first start (builds its virtualenv; MCP log connect)", f"{first_start_ms} ms")
    live_figure("plugin later start (MCP log connect)", f"{again.connected.ms} ms")
    door = "native" if native_door else "channel"
    live_figure(f"plugin ({door}) first round trip ping -> pong", f"{trips[0]:.0f} ms")
    live_figure(f"plugin ({door}) round trip ping -> pong p50 of {PINGS}", f"{statistics.median(trips[1:]):.0f} ms")
    again.quit()
