"""Cold start of the claude-mcp adapter: spawn to the ``initialize`` result, and to the first tools/list.

Each run spawns ``python -m agentbus.adapters.claude_mcp`` and writes the opening Claude Code
writes (``initialize``, ``notifications/initialized``, ``tools/list``) at once, timing the answers
from just before the spawn. Runs alternate between an existing bus (the usual case) and a fresh
AGENTBUS_HOME (first start on a machine: the bus is created), as Claude Code (``clientInfo.name``
``claude-code``, answered before the serving loop is imported) and, on the existing bus, as another
client (answered once the loop is in, so its waiting mail can follow at once: SPEC MCP-8). Then
``python -X importtime`` shows what the start-up imports cost, split into what runs before Claude
Code's ``initialize`` answer and after.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import Figure, header, percentile, report, summary

OPENING = (
    b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
    b'"capabilities":{"roots":{}},"clientInfo":{"name":"CLIENT","version":"1"}}}\n'
    b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n'
    b'{"jsonrpc":"2.0","id":2,"method":"tools/list"}\n'
)
CLAUDE_CODE = "claude-code"
OTHER_CLIENT = "mcp-bench-client"
COMMAND = [sys.executable, "-m", "agentbus.adapters.claude_mcp"]
#: What the adapter imports before it answers ``initialize`` (server.py, then startup.py joins the bus).
BEFORE_ANSWER = "import agentbus.adapters.claude_mcp.server, agentbus.adapters.claude_mcp.startup"
AFTER_ANSWER = "agentbus.adapters.claude_mcp.app"


def one_start(home: Path, name: str, db_url: str | None = None, client: str = CLAUDE_CODE) -> tuple[float, float]:
    """Milliseconds from spawn to the initialize result and to the tools/list result."""
    env = {**os.environ, "AGENTBUS_HOME": str(home), "HOME": str(home.parent), "AGENTBUS_NAME": name}
    if db_url:
        env["AGENTBUS_DB_URL"] = db_url
    started = time.monotonic()
    proc = subprocess.Popen(COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdin is not None
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdin.write(OPENING.replace(b"CLIENT", client.encode()))
    proc.stdin.flush()
    answered: dict[int, float] = {}
    while len(answered) < 2:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"adapter exited: {proc.stderr.read().decode(errors='replace')}")
        message = json.loads(line)
        if message.get("id") in (1, 2):
            answered[message["id"]] = time.monotonic()
    proc.stdin.close()
    proc.wait(timeout=10)
    proc.stdout.close()
    proc.stderr.close()
    return (answered[1] - started) * 1000, (answered[2] - started) * 1000


MARK = "colorsys"  # a small stdlib module neither side imports: it marks where the answer is written


def import_rows() -> tuple[list[tuple[float, str, int]], list[tuple[float, str, int]]]:
    """(self ms, module, depth) rows of ``python -X importtime``: imports before the answer, and after it."""
    statement = f"{BEFORE_ANSWER}; import {MARK}; import {AFTER_ANSWER}"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement], capture_output=True, text=True, check=True
    )
    before: list[tuple[float, str, int]] = []
    after: list[tuple[float, str, int]] = []
    current = before
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if not match:
            continue
        if match.group(4) == MARK:
            current = after
            continue
        current.append((int(match.group(1)) / 1000, match.group(4), len(match.group(3))))
    return before, after


def show_imports(label: str, rows: list[tuple[float, str, int]], top: int) -> float:
    total = sum(own for own, _module, _depth in rows)
    print(f"   imports {label}: {total:.0f} ms")
    packages: dict[str, float] = {}
    for own, module, _depth in rows:
        root = module.split(".")[0]
        packages[root] = packages.get(root, 0.0) + own
    ranked = sorted(packages.items(), key=lambda kv: -kv[1])[:top]
    print("     by package (self time): " + ", ".join(f"{name} {ms:.0f} ms" for name, ms in ranked))
    slowest = sorted(rows, key=lambda r: -r[0])[:top]
    print("     slowest modules (self): " + ", ".join(f"{module} {own:.0f} ms" for own, module, _d in slowest))
    return total


def pg_starts(runs: int, db_url: str) -> None:
    """Cold starts on an existing PostgreSQL bus (the database is migrated by the warm-up start)."""
    header(f"cold start: {runs} starts on the PostgreSQL bus {db_url}")
    with tempfile.TemporaryDirectory(prefix="agentbus-coldstart-") as root:
        home = Path(root) / "bus"
        one_start(home, "warm-up", db_url)
        starts = [one_start(home, f"pg-run-{i}", db_url) for i in range(runs)]
    print(f"   PostgreSQL, spawn -> initialize ms: {summary([s[0] for s in starts])}")
    print(f"   PostgreSQL, spawn -> tools/list ms: {summary([s[1] for s in starts])}")
    report(
        [
            Figure(
                "cold start p50 on PostgreSQL, spawn -> initialize", percentile([s[0] for s in starts], 50), "ms", 500.0
            )
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="starts of each kind (default 10)")
    parser.add_argument("--top", type=int, default=8, help="import rows to show (default 8)")
    parser.add_argument("--db-url", default=None, help="AGENTBUS_DB_URL (PostgreSQL): starts on that existing bus only")
    args = parser.parse_args()
    if args.db_url:
        pg_starts(args.runs, args.db_url)
        return

    header(f"cold start: {args.runs} starts on an existing bus, {args.runs} on a fresh one")
    with tempfile.TemporaryDirectory(prefix="agentbus-coldstart-") as root:
        existing = Path(root) / "existing" / "bus"
        existing.parent.mkdir()
        one_start(existing, "warm-up")  # creates the bus, and warms the OS file cache
        warm_init, warm_ready, fresh_init, fresh_ready, other_init = [], [], [], [], []
        for i in range(args.runs):
            init_ms, ready_ms = one_start(existing, f"run-{i}")
            warm_init.append(init_ms)
            warm_ready.append(ready_ms)
            other_init.append(one_start(existing, f"other-{i}", client=OTHER_CLIENT)[0])
            fresh = Path(root) / f"fresh-{i}" / "bus"
            fresh.parent.mkdir()
            init_ms, ready_ms = one_start(fresh, f"fresh-{i}")
            fresh_init.append(init_ms)
            fresh_ready.append(ready_ms)
    print(f"   existing bus, spawn -> initialize ms: {summary(warm_init)}")
    print(f"   existing bus, spawn -> tools/list ms: {summary(warm_ready)}")
    print(f"   fresh bus,    spawn -> initialize ms: {summary(fresh_init)}")
    print(f"   fresh bus,    spawn -> tools/list ms: {summary(fresh_ready)}")
    print(f"   another client, existing bus, spawn -> initialize ms: {summary(other_init)}")
    before, after = import_rows()
    show_imports("before the initialize answer (stdlib, the bus file, registration)", before, args.top)
    show_imports("after it (SQLAlchemy, the serving loop; the MCP SDK only for what it serves)", after, args.top)
    report(
        [
            Figure("cold start p50, spawn -> initialize result", percentile(warm_init, 50), "ms", 250.0),
            Figure("cold start p50, fresh bus", percentile(fresh_init, 50), "ms", 400.0),
            Figure("ready p50, spawn -> tools/list result", percentile(warm_ready, 50), "ms"),
            Figure("another client, spawn -> initialize (the loop ready)", percentile(other_init, 50), "ms", 400.0),
        ]
    )


if __name__ == "__main__":
    main()
