"""Run every benchmark one after another (default sizes, or --quick) and collect the figure lines."""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
FULL = {
    "cold_start.py": [],
    "delivery.py": [],
    "burst.py": [],
    "fanout.py": [],
    "idle.py": [],
    "cpu_cost.py": [],
}
QUICK = {
    "cold_start.py": ["--runs", "3"],
    "delivery.py": ["--count", "200"],
    "burst.py": ["--count", "1000"],
    "fanout.py": ["--rounds", "10"],
    "idle.py": ["--idle-seconds", "10", "--messages", "200"],
    "cpu_cost.py": ["--count", "100", "--peers", "10", "--rounds", "5"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not figures to quote")
    parser.add_argument("--soak", type=float, default=0.0, help="also run soak.py for this many seconds")
    args = parser.parse_args()

    plan = dict(QUICK if args.quick else FULL)
    if args.soak:
        plan["soak.py"] = ["--seconds", str(args.soak)]
    figures: list[str] = []
    failed: list[str] = []
    for script, extra in plan.items():
        while os.getloadavg()[0] > 2 * (os.cpu_count() or 1):
            print(f"(load {os.getloadavg()[0]:.1f}: waiting for a quieter machine)", flush=True)
            time.sleep(10)
        done = subprocess.run([sys.executable, str(HERE / script), *extra], capture_output=True, text=True)
        print(done.stdout, end="", flush=True)
        if done.returncode != 0:
            failed.append(script)
            print(done.stderr[-2000:], file=sys.stderr)
        figures += [line for line in done.stdout.splitlines() if line.rstrip().endswith(("PASS", "MISS"))]
    print("== summary")
    print("\n".join(figures))
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
