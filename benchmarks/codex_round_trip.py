"""Through the real Codex: ping -> pong round trips between a claude-mcp peer and a live Codex thread.

The pinned Codex (``fakeclaude.live.install``; installed with npm if missing) runs ``codex
app-server`` offline against FakeResponses, with the codex adapter as its MCP server; a client of
the app-server starts the thread as the TUI does. A fakeclaude peer ``alice`` sends ``--pings``
pings one at a time to ``cx``; each becomes user input of the thread (``turn/start``), and the fake
model answers with the agentbus ``send_message`` tool. Printed: the round trip (alice's
``tools/call`` written -> the pong event at alice: p50/p95/max, the first ping on its own), the
handover (the ping's send -> its text in the model's request), and the adapter's VmRSS.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _harness import header, percentile, rss_mb

from fakeclaude import Sandbox
from fakeclaude.live.codex import AppServer, AppServerClient, CodexHome
from fakeclaude.live.install import CODEX, CODEX_VERSIONS, ClaudeUnavailable, ensure_claude
from fakeclaude.live.procs import find_adapter
from fakeclaude.live.responses import FakeResponses
from fakeclaude.waiting import wait_until

STEP = 60.0


def stats(values: list[float]) -> str:
    p50, p95 = percentile(values, 50), percentile(values, 95)
    return f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {max(values):.0f} ms (n={len(values)})"


def run(version: str, pings: int, root: Path) -> None:
    codex = ensure_claude(version, tool=CODEX)
    print(f"-- Codex {version} ({codex})")
    with FakeResponses() as model, Sandbox(root / "peers") as peers:
        home = CodexHome.create(root / "codex", peers.bus_home, model.base_url, sys.executable)
        server = AppServer(codex, home, "cx").start()
        tui = AppServerClient(server.socket, name="tui")
        try:
            tui.start_thread(home.project)
            server_pid = server.process.pid if server.process else 0
            adapter = wait_until(lambda: find_adapter(server_pid, "agentbus.adapters.codex"), STEP, "the codex adapter")
            alice = peers.start_session("alice")
            round_trips: list[float] = []
            handovers: list[float] = []
            for index in range(pings):
                seen_before = len(model.requests)
                started = time.monotonic()
                sent = alice.call_tool("send_message", {"to": "cx", "text": "ping"}, timeout=STEP)
                if sent.is_error:
                    raise SystemExit(f"ping {index} failed: {sent.text}")
                alice.wait_for_channel(lambda event: event.content == "pong", timeout=STEP)
                round_trips.append((time.monotonic() - started) * 1000)
                request = next(r for r in model.requests[seen_before:] if any("ping" in t for t in r.last_user_texts()))
                handovers.append((request.at - started) * 1000)
                wait_until(
                    lambda since=seen_before: any(r.is_tool_output() for r in model.requests[since:]),
                    STEP,
                    "the turn's end",
                )
            print(f"round trip ping -> pong: {stats(round_trips)}; first ping {round_trips[0]:.0f} ms")
            print(f"handover, send_message -> the ping in the model's request: {stats(handovers)}")
            print(f"codex adapter VmRSS after the pings: {rss_mb(adapter.pid):.1f} MB")
        finally:
            tui.close()
            server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pings", type=int, default=20)
    parser.add_argument("--version", default=CODEX_VERSIONS[-1])
    args = parser.parse_args()
    header("codex round trip (real codex app-server, FakeResponses)")
    with tempfile.TemporaryDirectory(prefix="agentbus-codex-bench-") as root:
        try:
            run(args.version, args.pings, Path(root))
        except ClaudeUnavailable as exc:
            print(f"skipped: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
