"""Delivery latency: one send at a time from alice to bob, real adapters, p50/p99 in milliseconds.

Three spans per message, all on this process's monotonic clock:
  result->event  the tool result reached alice's client .. the channel event reached bob's client
                 (the issue's definition; negative when the push beat the tool result)
  send->event    alice's client wrote tools/call .. bob's client got the event (what a user waits)
  send->result   the tool call round trip at the sender
"""

import argparse
import time

from _harness import NO_RATE_LIMIT, Bench, Figure, backend_line, header, percentile, report, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="measured sends (default 1000)")
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured sends first (default 50)")
    parser.add_argument("--db-url", default=None, help="AGENTBUS_DB_URL (PostgreSQL); default: a SQLite bus")
    args = parser.parse_args()

    header(f"delivery latency: {args.count} one-at-a-time sends alice -> bob", rate_limit_off=True)
    backend_line(args.db_url)
    with Bench(env=NO_RATE_LIMIT, db_url=args.db_url) as bench:
        alice, _bob = bench.start("alice", "bob")
        inbox = bench.inboxes["bob"]
        result_to_event, send_to_event, send_to_result = [], [], []
        for i in range(args.warmup + args.count):
            text = f"latency {i}"
            sent = time.monotonic()
            result = alice.call_tool("send_message", {"to": "bob", "text": text})
            answered = time.monotonic()
            if result.is_error:
                raise SystemExit(f"send {i} failed: {result.text}")
            arrived = inbox.wait_content(text, timeout=10)
            if arrived is None:
                raise SystemExit(f"message {i} did not arrive within 10 s")
            if i >= args.warmup:
                result_to_event.append((arrived - answered) * 1000)
                send_to_event.append((arrived - sent) * 1000)
                send_to_result.append((answered - sent) * 1000)
        lost = args.warmup + args.count - len(inbox.arrivals)
        print(f"   result->event ms: {summary(result_to_event)}")
        print(f"   send->event   ms: {summary(send_to_event)}")
        print(f"   send->result  ms: {summary(send_to_result)}")
        print(f"   lost {lost}, duplicates {len(inbox.duplicates)}")
        report(
            [
                Figure("latency p50, tool result -> channel event", percentile(result_to_event, 50), "ms", 2.0),
                Figure("latency p99, tool result -> channel event", percentile(result_to_event, 99), "ms", 10.0),
                Figure("latency p50, tools/call sent -> channel event", percentile(send_to_event, 50), "ms", 2.0),
                Figure("latency p99, tools/call sent -> channel event", percentile(send_to_event, 99), "ms", 10.0),
            ]
        )
        if lost or inbox.duplicates:
            raise SystemExit("loss or duplicates")


if __name__ == "__main__":
    main()
