"""Broadcast fan-out: one peer broadcasts to the others (20 peers in all); time until every one has it.

Per round: ``result->all`` runs from the broadcast's tool result at the sender's client to the last
of the 19 channel events; ``send->all`` from writing the tools/call. Zero loss and duplicates checked.
"""

import argparse
import time

from _harness import NO_RATE_LIMIT, Bench, Figure, backend_line, header, percentile, report, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--peers", type=int, default=20, help="peers in all, the broadcaster included (default 20)")
    parser.add_argument("--rounds", type=int, default=50, help="measured broadcasts (default 50)")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured broadcasts first (default 5)")
    parser.add_argument("--db-url", default=None, help="AGENTBUS_DB_URL (PostgreSQL); default: a SQLite bus")
    args = parser.parse_args()

    header(f"fan-out: broadcast from 1 to {args.peers - 1} peers, {args.rounds} rounds", rate_limit_off=True)
    backend_line(args.db_url)
    with Bench(env=NO_RATE_LIMIT, db_url=args.db_url) as bench:
        names = [f"p{i:02d}" for i in range(args.peers)]
        started = time.monotonic()
        sessions = bench.start(*names)
        print(f"   {args.peers} adapters started in parallel in {time.monotonic() - started:.2f} s")
        caster, receivers = sessions[0], names[1:]
        result_to_all, send_to_all = [], []
        for i in range(args.warmup + args.rounds):
            text = f"broadcast {i}"
            sent = time.monotonic()
            result = caster.call_tool("broadcast", {"text": text})
            answered = time.monotonic()
            if result.is_error or len(result.structured["recipients"]) != len(receivers):
                raise SystemExit(f"broadcast {i}: {result.text}")
            arrivals = [bench.inboxes[name].wait_content(text, timeout=10) for name in receivers]
            if any(a is None for a in arrivals):
                missing = [n for n, a in zip(receivers, arrivals, strict=True) if a is None]
                raise SystemExit(f"broadcast {i} never reached {missing}")
            last = max(a for a in arrivals if a is not None)
            if i >= args.warmup:
                result_to_all.append((last - answered) * 1000)
                send_to_all.append((last - sent) * 1000)
        duplicates = sum(len(bench.inboxes[n].duplicates) for n in receivers)
        print(f"   result->all ms: {summary(result_to_all)}")
        print(f"   send->all   ms: {summary(send_to_all)}")
        print(f"   duplicates {duplicates}")
        report(
            [
                Figure(f"fan-out p50, result -> all {len(receivers)} peers", percentile(result_to_all, 50), "ms"),
                Figure(
                    f"fan-out p99, result -> all {len(receivers)} peers",
                    percentile(result_to_all, 99),
                    "ms",
                    50.0 if len(receivers) <= 19 else None,
                ),
                Figure(f"fan-out max, result -> all {len(receivers)} peers", max(result_to_all), "ms"),
                Figure(f"fan-out p50, sent -> all {len(receivers)} peers", percentile(send_to_all, 50), "ms"),
            ]
        )
        if duplicates:
            raise SystemExit("duplicates")


if __name__ == "__main__":
    main()
