"""How latency grows with the number of peers: the soak and the broadcast fan-out at 5, 20 and 50 peers.

Runs ``soak.py`` and ``fanout.py`` once per size (each in its own process, each on a fresh bus) and
prints one table: p50 / p99 / max of the soak's result -> event and created -> delivered (the bus's
own clocks), and of the fan-out's result -> last event. ``--db-url`` runs the same on PostgreSQL.
"""

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
ROWS = {
    "soak result->event": ("soak.py", r"result->event ms: (.*)"),
    "soak created->delivered": ("soak.py", r"created->delivered stamp on the bus ms: (.*)"),
    "fan-out result->last event": ("fanout.py", r"result->all ms: (.*)"),
}


def stats(line: str) -> dict[str, str]:
    return dict(re.findall(r"(\w+)=([-\d.]+)", line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peers", type=int, nargs="+", default=[5, 20, 50], help="sizes (default 5 20 50)")
    parser.add_argument("--seconds", type=float, default=120.0, help="soak length per size (default 120)")
    parser.add_argument("--rounds", type=int, default=50, help="fan-out broadcasts per size (default 50)")
    parser.add_argument("--db-url", default=None, help="AGENTBUS_DB_URL (PostgreSQL); default: SQLite")
    args = parser.parse_args()

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"== scale: {args.peers} peers, soak {args.seconds:g} s at 2 msg/s each, fan-out {args.rounds} rounds")
    print(f"   {os.cpu_count()} cores, load average {load}; bus: {args.db_url or 'SQLite'}")
    found: dict[tuple[str, int], dict[str, str]] = {}
    extra = ["--db-url", args.db_url] if args.db_url else []
    for peers in args.peers:
        for script, options in (
            ("soak.py", ["--seconds", str(args.seconds)]),
            ("fanout.py", ["--rounds", str(args.rounds)]),
        ):
            command = [sys.executable, str(HERE / script), "--peers", str(peers), *options, *extra]
            done = subprocess.run(command, capture_output=True, text=True)
            print(done.stdout, end="", flush=True)
            if done.returncode != 0:
                print(f"   {script} --peers {peers} FAILED: {done.stderr[-1500:]}", flush=True)
            for row, (row_script, pattern) in ROWS.items():
                match = re.search(pattern, done.stdout) if row_script == script else None
                if match:
                    found[(row, peers)] = stats(match.group(1))
    print(f"== how it grows (ms, p50 / p99 / max; load now {os.getloadavg()[0]:.2f})")
    print(f"   {'':28}" + "".join(f"{f'{n} peers':>26}" for n in args.peers))
    for row in ROWS:
        cells = []
        for peers in args.peers:
            got = found.get((row, peers))
            cells.append(f"{got['p50']} / {got['p99']} / {got['max']}" if got else "-")
        print(f"   {row:28}" + "".join(f"{cell:>26}" for cell in cells))


if __name__ == "__main__":
    main()
