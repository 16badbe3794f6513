"""Through the real Claude Code: ping -> pong round trips, the tool-call and connect times it logs, adapter RSS.

For each pinned version (``fakeclaude.live.install``; installed with npm if missing), one live
Claude Code session ``bob`` runs offline in a pseudo-terminal against the FakeModel, with the
claude-mcp adapter registered by ``agentbus enable``. A fakeclaude peer ``alice`` sends ``--pings``
pings one at a time; the model answers each with ``send_message(pong)``. Printed per version:

- round trip: alice's ``tools/call`` written -> the pong channel event at alice (p50/p95/max, and
  the first ping on its own: it carries the adapter's first tool call);
- ``send_message`` as Claude Code's MCP log times it ("completed successfully in N ms"; at 1 s and
  above it logs whole seconds only);
- the connect time Claude Code logs ("Successfully connected ... in N ms": spawn to handshake done);
- the adapter's VmRSS right after the session connected and after the pings.

The next ping is sent once the model has answered the previous tool result (the turn is over).
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _harness import header, percentile

from fakeclaude import Sandbox
from fakeclaude.live.driver import LiveSession
from fakeclaude.live.home import ClaudeHome
from fakeclaude.live.install import PINNED_VERSIONS, ClaudeUnavailable, ensure_claude
from fakeclaude.live.mcplog import ToolCompleted
from fakeclaude.live.model import FakeModel

STEP = 60.0


def stats(values: list[float], unit: str = "ms") -> str:
    return (
        f"p50 {percentile(values, 50):.0f} {unit}, p95 {percentile(values, 95):.0f} {unit}, "
        f"max {max(values):.0f} {unit} (n={len(values)})"
    )


def run_version(version: str, pings: int, root: Path) -> None:
    claude = ensure_claude(version)
    print(f"-- Claude Code {version} ({claude})")
    with FakeModel() as model, Sandbox(root / "peers") as peers:
        home = ClaudeHome.create(root / "claude", peers.bus_home)
        bob = LiveSession(claude, home, model, "bob")
        try:
            bob.start()
            assert bob.connected is not None
            adapter = bob.adapter()
            rss_start = bob.adapter_rss_kib()
            alice = peers.start_session("alice")
            round_trips: list[float] = []
            for index in range(pings):
                started = time.monotonic()
                sent = alice.call_tool("send_message", {"to": "bob", "text": "ping"}, timeout=STEP)
                if sent.is_error:
                    raise SystemExit(f"ping {index} failed: {sent.text}")
                pong = alice.wait_for_channel(lambda event: event.content == "pong", timeout=STEP)
                round_trips.append((pong.received_at - started) * 1000)
                turn_over = model.wait_for(
                    lambda r, t=started: r.at > t and r.last_user_is_tool_result() and r.replied_at is not None, STEP
                )
                if turn_over is None:
                    raise SystemExit(f"the model never got the result of pong {index}")
            bob.mcp_log.wait_for(
                ToolCompleted, STEP, lambda _e: len(bob.mcp_log.tool_times("send_message")) >= pings, what="tool times"
            )
            tool_ms = [float(ms) for ms in bob.mcp_log.tool_times("send_message")]
            rss_end = bob.adapter_rss_kib()
            bob.quit()
        finally:
            bob.close()
    print(f"   round trip ping -> pong      {stats(round_trips)}; first {round_trips[0]:.0f} ms")
    if len(round_trips) > 1:
        print(f"   ... without the first        {stats(round_trips[1:])}")
    print(f"   send_message (Claude's log)  {stats(tool_ms)}; first {tool_ms[0]:.0f} ms")
    print(f"   connect (Claude's log)       {bob.connected.ms} ms")
    rss = f"{rss_start / 1024:.1f} MiB connected, {rss_end / 1024:.1f} MiB after the pings"
    print(f"   adapter VmRSS                {rss} (pid {adapter.pid})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pings", type=int, default=20, help="pings per version (default 20)")
    parser.add_argument("--versions", nargs="*", default=list(PINNED_VERSIONS), help="Claude Code versions")
    args = parser.parse_args()
    header(f"real client: {args.pings} pings through a live Claude Code session per version")
    for version in args.versions:
        with tempfile.TemporaryDirectory(prefix=f"real-client-{version}-") as scratch:
            try:
                run_version(version, args.pings, Path(scratch))
            except ClaudeUnavailable as exc:
                print(f"-- Claude Code {version}: skipped: {exc}", file=sys.stderr)


if __name__ == "__main__":
    main()
