"""Idle CPU and memory of an adapter: utime+stime over a quiet period, VmRSS idle and after traffic.

Two peers start and exchange one message; then nothing happens for --idle-seconds while the CPU
each adapter spends is read from /proc/<pid>/stat (heartbeats, safety polls and the file watcher
are all it should do). RSS is read from /proc/<pid>/status at idle and again after --messages
messages went through.
"""

import argparse
import time

from _harness import NO_RATE_LIMIT, Bench, Figure, cpu_seconds, header, report, rss_mb, tools_call_line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle-seconds", type=float, default=60.0, help="quiet period measured (default 60)")
    parser.add_argument("--messages", type=int, default=1000, help="traffic before the second RSS reading")
    args = parser.parse_args()

    header(f"idle: CPU over {args.idle_seconds:g} s of quiet, RSS idle and after {args.messages} messages")
    with Bench(env=NO_RATE_LIMIT) as bench:
        alice, bob = bench.start("alice", "bob")
        pids = {"alice": alice.adapter_pid, "bob": bob.adapter_pid}
        assert all(pids.values())
        assert not alice.call_tool("send_message", {"to": "bob", "text": "hello"}).is_error
        assert bench.inboxes["bob"].wait_for(1, timeout=10)
        time.sleep(2.0)  # let start-up work (imports, first drain, first heartbeat) finish
        rss_idle = {name: rss_mb(pid) for name, pid in pids.items()}
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        started = time.monotonic()
        time.sleep(args.idle_seconds)
        elapsed = time.monotonic() - started
        percent = {name: (cpu_seconds(pid) - before[name]) / elapsed * 100 for name, pid in pids.items()}
        for name in pids:
            print(f"   {name}: {percent[name]:.3f} % CPU idle, VmRSS {rss_idle[name]:.1f} MB")

        for i in range(args.messages):  # one at a time, as agents send
            if alice.call_tool("send_message", {"to": "bob", "text": f"s{i} " + "x" * 200}).is_error:
                raise SystemExit(f"send {i} failed")
        if not bench.inboxes["bob"].wait_for(1 + args.messages, timeout=300):
            raise SystemExit("traffic did not arrive")
        rss_busy = {name: rss_mb(pid) for name, pid in pids.items()}
        lines = [
            tools_call_line(f"r{i}", "send_message", {"to": "bob", "text": f"r{i} " + "x" * 200})
            for i in range(args.messages)
        ]
        for start in range(0, len(lines), 200):  # all at once: every request in flight together
            alice.send_raw("\n".join(lines[start : start + 200]))
        if not bench.inboxes["bob"].wait_for(1 + 2 * args.messages, timeout=300):
            raise SystemExit("pipelined traffic did not arrive")
        rss_burst = {name: rss_mb(pid) for name, pid in pids.items()}
        for name in pids:
            print(
                f"   {name}: VmRSS {rss_busy[name]:.1f} MB after {args.messages} sends one at a time, "
                f"{rss_burst[name]:.1f} MB after {args.messages} more pipelined"
            )
        report(
            [
                Figure("idle CPU per adapter (worst of two)", max(percent.values()), "%", 0.5),
                Figure("RSS per adapter at idle (worst)", max(rss_idle.values()), "MB", 80.0),
                Figure(f"RSS per adapter after {args.messages} msgs (worst)", max(rss_busy.values()), "MB", 80.0),
                Figure("RSS after a pipelined burst too (worst)", max(rss_burst.values()), "MB", 80.0),
            ]
        )


if __name__ == "__main__":
    main()
