"""CPU per message: what one send costs the sender's adapter and the recipient's, and a broadcast each of 49.

CPU is read from /proc/<pid>/task/*/schedstat (run time in nanoseconds, every thread of the
adapter), not from the 10 ms ticks of /proc/<pid>/stat. Messages go one at a time with a pause
between them (--gap, default 20 ms), as agents send: each wakes a process that was asleep, whose
caches went cold meanwhile, which costs more than the same work back to back (--gap 0). The
broadcast part starts --peers adapters and has one broadcast to all the others, --rounds times,
waiting for every event and the receipts before the next. The harness (fakeclaude, one Python
process for every session) is measured too: it shares the same cores. Idle CPU over the same span
(heartbeats, safety polls) is measured first and taken off.
Not part of the test run: ``python benchmarks/cpu_cost.py``.
"""

import argparse
import contextlib
import resource
import time
from pathlib import Path

from _harness import NO_RATE_LIMIT, Bench, Figure, header, report


def run_seconds(pid: int) -> float:
    """CPU time of every thread of a process so far, in seconds (schedstat: nanoseconds)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):  # a thread that ended meanwhile
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def own_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def idle_rate(pids: list[int], seconds: float) -> float:
    """CPU seconds per second that these processes spend together doing nothing but stay alive."""
    before = sum(run_seconds(pid) for pid in pids)
    started = time.monotonic()
    time.sleep(seconds)
    return (sum(run_seconds(pid) for pid in pids) - before) / (time.monotonic() - started)


def one_at_a_time(count: int, gap: float) -> list[Figure]:
    with Bench(env=NO_RATE_LIMIT) as bench:
        alice, bob = bench.start("alice", "bob")
        inbox = bench.inboxes["bob"]
        for i in range(20):  # warm-up: imports, first drain, statement caches
            alice.call_tool("send_message", {"to": "bob", "text": f"warm {i}"})
            inbox.wait_content(f"warm {i}", 10)
        time.sleep(1.0)
        idle = {p: idle_rate([p], 3.0) for p in (alice.adapter_pid, bob.adapter_pid)}
        before = {p: run_seconds(p) for p in idle}
        started = time.monotonic()
        for i in range(count):
            if alice.call_tool("send_message", {"to": "bob", "text": f"m{i}"}).is_error:
                raise SystemExit(f"send {i} failed")
            if inbox.wait_content(f"m{i}", 10) is None:
                raise SystemExit(f"message {i} never arrived")
            if gap:
                time.sleep(gap)
        time.sleep(0.5)  # the last receipt
        span = time.monotonic() - started
        cost = {p: (run_seconds(p) - before[p] - idle[p] * span) / count * 1000 for p in idle}
        print(
            f"   {count} messages, {gap * 1000:g} ms apart, idle taken off: alice {idle[alice.adapter_pid] * 1000:.2f} "
            f"ms/s, bob {idle[bob.adapter_pid] * 1000:.2f} ms/s"
        )
        return [
            Figure("one at a time: sender's adapter per message", cost[alice.adapter_pid], "ms"),
            Figure("one at a time: recipient's adapter per message", cost[bob.adapter_pid], "ms"),
        ]


def broadcasts(peers: int, rounds: int) -> list[Figure]:
    with Bench(env=NO_RATE_LIMIT) as bench:
        names = [f"p{i:02d}" for i in range(peers)]
        sessions = bench.start(*names)
        caster, receivers = sessions[0], names[1:]
        recipient_pids = [s.adapter_pid for s in sessions[1:]]

        def broadcast(text: str) -> None:
            result = caster.call_tool("broadcast", {"text": text})
            if result.is_error:
                raise SystemExit(f"broadcast failed: {result.text}")
            if any(bench.inboxes[name].wait_content(text, 10) is None for name in receivers):
                raise SystemExit(f"{text} did not reach every peer")
            time.sleep(0.3)  # the receipts

        for i in range(3):
            broadcast(f"warm {i}")
        time.sleep(1.0)
        idle = idle_rate(recipient_pids, 3.0)
        before_recipients, before_caster = sum(run_seconds(p) for p in recipient_pids), run_seconds(caster.adapter_pid)
        before_harness, started = own_seconds(), time.monotonic()
        for i in range(rounds):
            broadcast(f"broadcast {i}")
        span = time.monotonic() - started
        deliveries = rounds * len(receivers)
        recipients = sum(run_seconds(p) for p in recipient_pids) - before_recipients - idle * span
        return [
            Figure(f"broadcast to {len(receivers)}: each recipient's adapter", recipients / deliveries * 1000, "ms"),
            Figure(
                "... the sender's adapter per broadcast",
                (run_seconds(caster.adapter_pid) - before_caster) / rounds * 1000,
                "ms",
            ),
            Figure(
                "... the harness (fakeclaude) per delivery", (own_seconds() - before_harness) / deliveries * 1000, "ms"
            ),
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=500, help="messages one at a time (default 500)")
    parser.add_argument("--gap", type=float, default=0.02, help="seconds between them (default 0.02)")
    parser.add_argument("--peers", type=int, default=50, help="adapters in the broadcast part (default 50)")
    parser.add_argument("--rounds", type=int, default=30, help="broadcasts measured (default 30)")
    args = parser.parse_args()
    header(
        f"CPU per message: {args.count} one at a time, {args.rounds} broadcasts to {args.peers - 1}",
        rate_limit_off=True,
    )
    report(one_at_a_time(args.count, args.gap) + broadcasts(args.peers, args.rounds))


if __name__ == "__main__":
    main()
