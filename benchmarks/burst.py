"""Burst throughput: pipelined send_message calls (no waiting for results) until every message arrived.

Each sender's client writes all its tools/call lines at once; the clock runs from the first write
to the last channel event at the recipient. Checks zero loss and zero duplicates, and prints the
CPU each adapter spent per message (where the time goes).
"""

import argparse
import threading
import time
from typing import Any

from _harness import NO_RATE_LIMIT, Bench, Figure, cpu_seconds, header, report, results_by_id, tools_call_line

CHUNK = 200  # lines per write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=5000, help="messages in total (default 5000)")
    parser.add_argument("--senders", type=int, default=1, help="sending peers, all to one recipient (default 1)")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds")
    args = parser.parse_args()

    per_sender = args.count // args.senders
    total = per_sender * args.senders
    header(f"burst: {args.senders} sender(s) x {per_sender} pipelined sends -> sink", rate_limit_off=True)
    with Bench(env=NO_RATE_LIMIT) as bench:
        names = [f"s{i}" for i in range(args.senders)]
        sessions = bench.start("sink", *names)
        sink, senders = sessions[0], sessions[1:]
        inbox = bench.inboxes["sink"]
        pids = {s.name: s.adapter_pid for s in sessions}
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items() if pid}

        def blast(session, prefix: str) -> None:  # type: ignore[no-untyped-def]
            lines = [
                tools_call_line(f"{prefix}{i}", "send_message", {"to": "sink", "text": f"{prefix}{i}"})
                for i in range(per_sender)
            ]
            for start in range(0, len(lines), CHUNK):
                session.send_raw("\n".join(lines[start : start + CHUNK]))

        threads = [threading.Thread(target=blast, args=(session, f"{session.name}-")) for session in senders]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        complete = inbox.wait_for(total, timeout=args.timeout)
        for thread in threads:
            thread.join()
        last = max(inbox.arrivals.values()) if inbox.arrivals else time.monotonic()
        seconds = last - started
        cpu_after = {name: cpu_seconds(pid) for name, pid in pids.items() if pid}

        results: dict[str, dict[str, Any]] = {}
        results_deadline = time.monotonic() + args.timeout
        while len(results) < total and time.monotonic() < results_deadline:
            results = {}
            for session in senders:
                results.update(results_by_id(session, f"{session.name}-"))
            time.sleep(0.05)
        all_results = time.monotonic() - started
        failed = [r for r in results.values() if "error" in r or r.get("result", {}).get("isError")]
        ids = [r["result"]["structuredContent"]["msg_id"] for r in results.values() if r not in failed]
        lost = total - len(inbox.arrivals)
        print(
            f"   {len(inbox.arrivals)}/{total} arrived in {seconds:.2f} s; all {len(results)} results at the "
            f"sender(s) in {all_results:.2f} s; failed sends {len(failed)}"
        )
        print(f"   lost {lost}, duplicates {len(inbox.duplicates)}, distinct msg ids {len(set(ids))}")
        for name in pids:
            spent = cpu_after[name] - cpu_before[name]
            print(f"   cpu {name:<5} {spent:6.2f} s = {spent / total * 1000:.3f} ms per message")
        _ = sink
        report([Figure("burst throughput", total / seconds if complete else 0.0, "msg/s", 2000.0, higher=True)])
        if not complete or lost or inbox.duplicates or failed or len(set(ids)) != len(ids):
            raise SystemExit("loss, duplicates or failed sends")


if __name__ == "__main__":
    main()
