"""Through the real Claude Code, door by door: ping -> pong round trips, the first message after launch,
Claude Code's own timings, the adapter's CPU and RSS.

For each pinned version (``fakeclaude.live.install``; installed with npm if missing) and each door
it has, one live Claude Code session ``bob`` runs offline in a pseudo-terminal against the
FakeModel, with the claude-mcp adapter registered by ``agentbus enable``:

- ``native``: a plain ``claude`` (no flag); the adapter writes into Claude Code's messaging socket
  (2.1.224 and later);
- ``channel``: ``claude --dangerously-load-development-channels server:agentbus`` with
  AGENTBUS_PUSH=channel (on releases with both doors the native one would be taken first).

Before ``bob`` starts, a ping waits for him on the bus: "first message after launch" is the time from
spawning ``claude`` to alice receiving its pong. Then a fakeclaude peer ``alice`` sends ``--pings``
pings one at a time; the model answers each with ``send_message(pong)``, and the next ping is sent
once the model has answered the previous tool result (the turn is over). Printed per version and door:

- round trip: alice's ``tools/call`` written -> the pong at alice (p50/p95/max, the first on its own);
- ``send_message`` as Claude Code's MCP log times it; the connect time it logs;
- the adapter's CPU time during the pings, per ping (user + system, /proc/PID/stat) and its VmRSS
  after them.
"""

import argparse
import os
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
#: The first Claude Code release that gives its servers a messaging socket.
NATIVE_SINCE = (2, 1, 224)
#: The round trip a native door of the newest release must meet (p50).
ROUND_TRIP_TARGET_MS = 300.0


def stats(values: list[float], unit: str = "ms") -> str:
    return (
        f"p50 {percentile(values, 50):.0f} {unit}, p95 {percentile(values, 95):.0f} {unit}, "
        f"max {max(values):.0f} {unit} (n={len(values)})"
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def turn_over(model: FakeModel, since: float, what: str) -> None:
    """Wait for the model's answer to the result of the send_message it made after ``since``: the next
    ping then finds the session idle (one sent sooner arrives with a tool result, mid-turn)."""
    over = model.wait_for(lambda r: r.at > since and r.last_user_is_tool_result() and r.replied_at is not None, STEP)
    if over is None:
        raise SystemExit(f"the model never got the result of {what}")


def doors_of(version: str) -> list[str]:
    has_socket = tuple(int(part) for part in version.split(".")) >= NATIVE_SINCE
    return ["native", "channel"] if has_socket else ["channel"]


def run_door(version: str, door: str, pings: int, root: Path, newest: bool) -> None:
    claude = ensure_claude(version)
    with FakeModel() as model, Sandbox(root / "peers") as peers:
        home = ClaudeHome.create(root / "claude", peers.bus_home)
        env = {"AGENTBUS_PUSH": "channel"} if door == "channel" and "native" in doors_of(version) else None
        alice = peers.start_session("alice")
        waiting = alice.call_tool("send_message", {"to": "bob", "text": "ping"}, timeout=STEP)
        waiting_id = str(waiting.json()["msg_id"])
        bob = LiveSession(claude, home, model, "bob", channels=door == "channel", env=env)
        try:
            spawned = time.monotonic()
            bob.start()
            first = alice.wait_for_channel(lambda e: e.meta.get("reply_to") == waiting_id, timeout=STEP)
            first_after_launch = (first.received_at - spawned) * 1000
            turn_over(model, spawned, "the waiting ping")
            assert bob.connected is not None
            adapter = bob.adapter()
            cpu_before = cpu_seconds(adapter.pid)
            round_trips: list[float] = []
            for index in range(pings):
                started = time.monotonic()
                sent = alice.call_tool("send_message", {"to": "bob", "text": "ping"}, timeout=STEP)
                if sent.is_error:
                    raise SystemExit(f"ping {index} failed: {sent.text}")
                ping_id = str(sent.json()["msg_id"])
                pong = alice.wait_for_channel(lambda e, i=ping_id: e.meta.get("reply_to") == i, timeout=STEP)
                round_trips.append((pong.received_at - started) * 1000)
                turn_over(model, started, f"pong {index}")
            cpu_ms = (cpu_seconds(adapter.pid) - cpu_before) * 1000 / pings
            bob.mcp_log.wait_for(
                ToolCompleted, STEP, lambda _e: len(bob.mcp_log.tool_times("send_message")) > pings, what="tool times"
            )
            tool_ms = [float(ms) for ms in bob.mcp_log.tool_times("send_message")]
            rss_end = bob.adapter_rss_kib()
            bob.quit()
        finally:
            bob.close()
    print(f"-- Claude Code {version}, {door} door ({claude})")
    print(f"   first message after launch   {first_after_launch:.0f} ms (spawn -> pong to a ping that waited)")
    print(f"   round trip ping -> pong      {stats(round_trips)}; first {round_trips[0]:.0f} ms")
    if newest and door == "native":
        p50 = percentile(round_trips, 50)
        verdict = "PASS" if p50 <= ROUND_TRIP_TARGET_MS else "MISS"
        print(f"   round trip p50 target        <= {ROUND_TRIP_TARGET_MS:.0f} ms: {p50:.0f} ms {verdict}")
    print(f"   send_message (Claude's log)  {stats(tool_ms)}")
    print(f"   connect (Claude's log)       {bob.connected.ms} ms")
    print(f"   adapter CPU per ping         {cpu_ms:.1f} ms (user + system, pid {adapter.pid})")
    print(f"   adapter VmRSS                {rss_end / 1024:.1f} MiB after the pings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pings", type=int, default=20, help="pings per version and door (default 20)")
    parser.add_argument("--versions", nargs="*", default=list(PINNED_VERSIONS), help="Claude Code versions")
    args = parser.parse_args()
    header(f"real client: {args.pings} pings through a live Claude Code session per version and door")
    newest = max(args.versions, key=lambda v: tuple(int(part) for part in v.split(".")))
    for version in args.versions:
        for door in doors_of(version):
            with tempfile.TemporaryDirectory(prefix=f"real-client-{version}-{door}-") as scratch:
                try:
                    run_door(version, door, args.pings, Path(scratch), version == newest)
                except ClaudeUnavailable as exc:
                    print(f"-- Claude Code {version}: skipped: {exc}", file=sys.stderr)


if __name__ == "__main__":
    main()
