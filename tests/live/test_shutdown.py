"""Claude Code's quit stops the adapter with SIGINT alone (seen on the wire, through the recording tap).

2.1.197 exits before its MCP log gets the shutdown lines ("Sending SIGINT...", "SIGINT failed,
sending SIGTERM..."), so the log cannot show an escalation there; the tap, which relays every line
and records each signal Claude Code sends to the server, can. The tap is the real adapter's parent,
relaying byte for byte; the adapter runs as registered by ``agentbus enable``.
"""

from collections.abc import Callable
from pathlib import Path

from fakeclaude import Sandbox
from fakeclaude.live.driver import LiveSession
from fakeclaude.live.home import ClaudeHome
from fakeclaude.live.model import FakeModel
from fakeclaude.live.taplog import TapLog
from fakeclaude.waiting import wait_until
from live.support import peers_on_bus


def test_quitting_stops_the_adapter_with_sigint_alone(
    claude: Path, tmp_path: Path, peers: Sandbox, model: FakeModel, live_figure: Callable[[str, object], None]
) -> None:
    tap_log = tmp_path / "tap.jsonl"
    home = ClaudeHome.create(tmp_path / "tapped", peers.bus_home, tap_log=tap_log)
    bob = LiveSession(claude, home, model, "bob")
    try:
        bob.start()
        assert [peer["name"] for peer in peers_on_bus(peers)] == ["bob"]
        bob.quit()
        tap = wait_until(lambda: (log := TapLog.read(tap_log)).exited and log, 30, "the tap to record its exit")
    finally:
        bob.close()
    signals = tap.signals()
    assert [name for name, _t in signals] == ["SIGINT"], f"Claude Code escalated: {signals}"
    exit_record = next(record for record in tap.records if "exit" in record)
    assert exit_record["exit"] in (0, -2, 130), f"the adapter exited with {exit_record['exit']}"
    live_figure("adapter gone after SIGINT", f"{(exit_record['t'] - signals[0][1]) * 1000:.0f} ms")
    assert peers_on_bus(peers) == [], "the adapter did not unregister on its way out"
