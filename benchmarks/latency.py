"""Push latency between two claude-mcp adapter processes, one message at a time (prints figures).

    python benchmarks/latency.py [--messages 1000] [--safety-poll 0] [--trigger file-watch]
    python benchmarks/latency.py --db-url postgresql+psycopg://agentbus@127.0.0.1:54329/bench

With ``--db-url`` the two sessions get different AGENTBUS_HOME directories (standing in for two
machines) and meet only in that database; the trigger defaults to the backend's (pg-notify).

alice (a fakeclaude session) calls send_message; bob's session waits for the channel event before
the next send. Times come from fakeclaude's wire log (time.monotonic() as each line was read):

- result->event: the send_message result at alice to the channel event at bob (the figure asked for;
  negative when the event overtook the result),
- request->event: alice's tools/call written to the event at bob (end to end),
- request->result: the tool call itself.

With ``--safety-poll 0`` (the default) the endpoint's safety poll is off, so every message must be
delivered by the trigger alone; a stuck message fails the run after ``--timeout`` seconds.
"""

import argparse
import statistics
import sys
import time
from typing import Any

from fakeclaude import Sandbox


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def describe(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (
        f"{name:>16}: p50 {percentile(ms, 0.5):7.2f} ms  p90 {percentile(ms, 0.9):7.2f}  "
        f"p99 {percentile(ms, 0.99):7.2f}  max {max(ms):7.2f}  mean {statistics.fmean(ms):7.2f}"
    )


def last_record(session: Any, kind: str, direction: str) -> Any:
    return next(r for r in reversed(session.recorder.records) if r.kind == kind and r.direction == direction)


def run(messages: int, env: dict[str, str], timeout: float, separate_homes: bool = False) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {"result->event": [], "request->event": [], "request->result": []}
    with Sandbox() as sandbox, Sandbox() as other_machine:
        alice = sandbox.start_session("alice", env=env)
        bob = (other_machine if separate_homes else sandbox).start_session("bob", env=env)
        # Warm up (and wait until bob is attached and announced as a push peer).
        alice.call_tool("send_message", {"to": "bob", "text": "warm-up"})
        bob.wait_for_channel(timeout=10)
        for n in range(messages):
            alice.recorder.clear()
            bob.recorder.clear()
            bob.clear_channel_events()
            result = alice.call_tool("send_message", {"to": "bob", "text": f"message {n}"})
            if result.is_error:
                raise SystemExit(f"send {n} failed: {result.text}")
            event = bob.wait_for_channel(timeout=timeout)
            if event.content != f"message {n}":
                raise SystemExit(f"expected message {n}, got {event.content!r}")
            sent = last_record(alice, "request", "sent").at
            answered = last_record(alice, "response", "received").at
            figures["result->event"].append(event.received_at - answered)
            figures["request->event"].append(event.received_at - sent)
            figures["request->result"].append(answered - sent)
        problems = [f.describe() for s in (alice, bob) for f in s.findings]
        if problems:
            print("findings:", *problems, sep="\n  ")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--safety-poll", type=float, default=0.0, help="AGENTBUS_SAFETY_POLL_SECONDS (0 = off)")
    parser.add_argument("--trigger", default=None, help="AGENTBUS_TRIGGER (default: the backend's)")
    parser.add_argument("--db-url", default=None, help="AGENTBUS_DB_URL; sessions then get separate homes")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for one event")
    args = parser.parse_args()
    env = {
        "AGENTBUS_SAFETY_POLL_SECONDS": str(args.safety_poll),
        "AGENTBUS_RATE_LIMIT_PER_MINUTE": "0",
    }
    if args.trigger:
        env["AGENTBUS_TRIGGER"] = args.trigger
    if args.db_url:
        env["AGENTBUS_DB_URL"] = args.db_url
    started = time.monotonic()
    figures = run(args.messages, env, args.timeout, separate_homes=bool(args.db_url))
    elapsed = time.monotonic() - started
    backend = "PostgreSQL, separate homes" if args.db_url else "SQLite"
    trigger = args.trigger or ("pg-notify" if args.db_url else "file-watch")
    print(
        f"{args.messages} messages on {backend}, trigger {trigger}, safety poll {args.safety_poll:g}s, "
        f"{elapsed:.1f}s total"
    )
    for name, seconds in figures.items():
        print(describe(name, seconds))
    slow = sum(1 for s in figures["result->event"] if s >= 1.0)
    overtook = sum(1 for s in figures["result->event"] if s < 0)
    print(f"result->event >= 1 s: {slow}; events that arrived before the sender's result: {overtook}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
