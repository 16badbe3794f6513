"""agentbus watch: opening 10,000 messages, scrolling them, idle CPU, and a message's way from send to its row.

Each measured watch is a process of its own (this script run with --child), headless (Textual's
run_test, 160x40), so its RSS and CPU are its own:
  open     a bus filled with --count messages between four names (bus.send, every second one a
           reply). Opened once as ``agentbus watch`` opens it (a fresh Bus, then the app; the rows
           shown are checked against the messages read), then --runs times with one read through
           the Bus first, so that its connection is pooled: run_test() entered ->
           ``WatchApp.opened_at`` (the first read's rows in the table), and -> the app idle after it;
           peak RSS (ru_maxrss). Then keys in the conversation table, wall and CPU time of each
           ``pilot.press`` (it returns once the key is handled and the screen updated): home, end,
           home, pagedown x20, t (a thread) and escape (every row again); one more message sent to
           the bus -> its row; on the first run the CPU of --idle-seconds with nothing happening.
           Two fills: every message delivered (history), and as sent with no session ever online
           (replies prove their originals seen, the replies stay queued: half the messages still
           climbing, which every read asks for again).
  live     two real claude-mcp adapters (fakeclaude) alice and bob: the watch's CPU over
           --idle-seconds of quiet (their heartbeats are all that writes), then one message a
           second alice -> bob, --messages times: tools/call written -> the row in the table, and
           -> after the next screen refresh (monotonic clock, shared by both processes).
"""

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _harness import NO_RATE_LIMIT, Bench, Figure, cpu_seconds, header, percentile, report, rss_mb, summary
from textual.pilot import Pilot
from textual.widgets import DataTable

from agentbus.cli.watch.app import PAGE, WatchApp
from agentbus.cli.watch.model import Traffic, read_messages
from agentbus.core import Bus, Settings

NAMES = ("alice", "bob", "carol", "dave")
MARK = "@@ "
SIZE = (160, 40)


def child_env(home: Path, user_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTBUS_")}
    return {**env, **NO_RATE_LIMIT, "AGENTBUS_HOME": str(home), "HOME": str(user_home)}


def say(**values: Any) -> None:
    """One line for the parent: the child's findings, as JSON after MARK."""
    print(MARK + json.dumps(values), flush=True)


# the bus ---------------------------------------------------------------------------


def fill(settings: Settings, count: int, *, delivered: bool) -> float:
    """``count`` messages between NAMES, in pairs (a message, then its recipient's reply); seconds taken."""
    rng = random.Random(7)
    words = ("the", "build", "is", "green", "again", "please", "review", "fix", "tests", "failing", "on", "main")
    pairs = [(a, b) for a in NAMES for b in NAMES if a != b]
    started = time.monotonic()
    with Bus.open(settings) as bus:
        ids: list[int] = []
        for i in range(count):
            body = " ".join(rng.choice(words) for _ in range(rng.randint(5, 60)))
            if i % 2 == 0:
                sender, recipient = pairs[(i // 2) % len(pairs)]
                ids += bus.send(sender, recipient, body).ids
            else:
                ids += bus.send(recipient, sender, body, reply_to=ids[-1]).ids
        if delivered:
            bus.mark_delivered(ids)
    return time.monotonic() - started


# the children: one watch each ---------------------------------------------------------


async def until(check: Callable[[], bool], pilot: Pilot[None], what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"the watch did not show {what} within {within:g} s")
        await pilot.pause(0.001)


async def timed_press(pilot: Pilot[None], key: str) -> tuple[float, float]:
    """Wall and CPU seconds of one key, handled and the screen updated (``pilot.press``)."""
    wall, cpu = time.monotonic(), time.process_time()
    await pilot.press(key)
    return time.monotonic() - wall, time.process_time() - cpu


async def open_child(idle_seconds: float, warm: bool) -> None:
    """One open of the bus at AGENTBUS_HOME; ``warm``: a read through the Bus first, so its connection is pooled."""
    settings = Settings.from_env()
    with Bus(settings) as bus:
        rss_before = rss_mb(os.getpid())
        if warm:
            bus.peers()
        total = sum(box.pending + box.delivered for box in bus.mailbox_stats())
        app = WatchApp(settings, bus, "bench")
        started = time.monotonic()
        async with app.run_test(size=SIZE) as pilot:
            await until(lambda: app.opened_at is not None, pilot, "its first read")
            assert app.opened_at is not None
            opened, reads = app.opened_at - started, app.reads
            await pilot.pause()
            idle = time.monotonic() - started
            table = app.query_one("#conversation", DataTable)
            rows, held, unsettled = table.row_count, len(app.traffic.messages), len(app.traffic.unsettled())
            table.focus()
            await pilot.pause()
            keys = [
                (f"{key} from the {'bottom' if key == 'home' else 'top'}", *await timed_press(pilot, key))
                for key in ("home", "end", "home")
            ]
            pages = [await timed_press(pilot, "pagedown") for _ in range(20)]
            await pilot.press("end")
            keys.append(("t (the thread of the last row)", *await timed_press(pilot, "t")))
            keys.append(("escape (every row again)", *await timed_press(pilot, "escape")))
            while len(app.traffic.messages) < total:  # o: the next PAGE older, until the whole bus is shown
                keys.append((f"o (to {len(app.traffic.messages) + PAGE})", *await timed_press(pilot, "o")))

            sent = time.monotonic()
            receipt = await asyncio.to_thread(bus.send, "alice", "bob", "one more")
            await until(lambda: str(receipt.ids[0]) in table.rows, pilot, "one more message")
            one_more = time.monotonic() - sent

            idle_cpu, idle_reads = None, None
            if idle_seconds:
                await pilot.pause(1.0)
                before, reads_before, at = time.process_time(), app.reads, time.monotonic()
                await asyncio.sleep(idle_seconds)
                idle_cpu = (time.process_time() - before) / (time.monotonic() - at) * 100
                idle_reads = app.reads - reads_before
        rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        at = time.monotonic()
        read_messages(bus, Traffic(), PAGE)
        read_alone = time.monotonic() - at
    say(
        opened=opened,
        idle=idle,
        reads=reads,
        rows=rows,
        held=held,
        unsettled=unsettled,
        rss_before=rss_before,
        rss_peak=rss_peak,
        keys=keys,
        pages=pages,
        one_more=one_more,
        idle_cpu=idle_cpu,
        idle_reads=idle_reads,
        read_alone=read_alone,
    )


async def live_child() -> None:
    """The watch on a live bus: says ``opened``, then each new row (added, drawn); ``reads`` on request."""
    settings = Settings.from_env()
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def commands() -> None:
        for line in sys.stdin:
            if line.strip() == "reads":
                loop.call_soon_threadsafe(lambda: say(reads=app.reads))
        loop.call_soon_threadsafe(done.set)

    with Bus(settings) as bus:
        app = WatchApp(settings, bus, "bench")
        async with app.run_test(size=SIZE) as pilot:
            while app.opened_at is None:
                await pilot.pause(0.001)
            table = app.query_one("#conversation", DataTable)
            add_row = table.add_row

            def stamped(*cells: Any, **kwargs: Any) -> Any:
                added = time.monotonic()
                row = add_row(*cells, **kwargs)
                key = str(kwargs.get("key"))
                app.call_after_refresh(lambda: say(row=key, added=added, drawn=time.monotonic()))
                return row

            table.add_row = stamped  # type: ignore[method-assign]
            say(opened=True)
            threading.Thread(target=commands, daemon=True).start()
            await done.wait()


# the parent ----------------------------------------------------------------------------


def child_command(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", *args]


def parse(line: str) -> dict[str, Any] | None:
    return json.loads(line[len(MARK) :]) if line.startswith(MARK) else None


def open_once(home: Path, root: Path, *, warm: bool, idle_seconds: float) -> dict[str, Any]:
    command = child_command("open", "--idle-seconds", str(idle_seconds), *(("--warm",) if warm else ()))
    done = subprocess.run(
        command, env=child_env(home, root), capture_output=True, text=True, timeout=300 + idle_seconds
    )
    found = [parsed for line in done.stdout.splitlines() if (parsed := parse(line))]
    if done.returncode != 0 or not found:
        raise SystemExit(f"the open run failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    return found[-1]


def show_open(label: str, result: dict[str, Any]) -> None:
    missing = result["held"] - result["rows"]
    lost = f"  << {missing} MESSAGES NOT SHOWN" if missing else ""
    print(
        f"   {label}: opened {1000 * result['opened']:.0f} ms after {result['reads']} reads, app idle after "
        f"{1000 * result['idle']:.0f} ms; {result['rows']} rows shown of {result['held']} held{lost}"
    )
    print(
        f"          peak RSS {result['rss_peak']:.1f} MB (VmRSS {result['rss_before']:.1f} MB before the app); "
        f"{result['unsettled']} still climbing; the bus read alone (read_messages) {1000 * result['read_alone']:.0f} ms"
    )
    keys = ", ".join(f"{name} {1000 * wall:.0f} ms ({1000 * cpu:.0f} ms CPU)" for name, wall, cpu in result["keys"])
    print(f"          keys: {keys}")
    print(
        f"          pagedown x20 ms: {summary([1000 * wall for wall, _ in result['pages']])}; "
        f"CPU ms: {summary([1000 * cpu for _, cpu in result['pages']])}"
    )
    print(f"          one more message sent -> its row: {1000 * result['one_more']:.0f} ms")
    if result["idle_cpu"] is not None:
        print(f"          idle: {result['idle_cpu']:.2f} % of one core, {result['idle_reads']} bus reads")


def open_runs(root: Path, args: argparse.Namespace) -> list[Figure]:
    figures: list[Figure] = []
    for variant, delivered in (("history", True), ("half queued", False)):
        home = root / variant.replace(" ", "-")
        took = fill(Settings.from_env(child_env(home, root)), args.count, delivered=delivered)
        print(f"-- {args.count} messages, {variant} (filled in {took:.1f} s)")
        cold = open_once(home, root, warm=False, idle_seconds=0)
        show_open("as `agentbus watch` opens it", cold)
        runs = []
        for run in range(args.runs):
            idle = args.idle_seconds if run == 0 else 0
            runs.append(open_once(home, root, warm=True, idle_seconds=idle))
            show_open(f"run {run + 1}, its connection pooled first", runs[-1])
        first = runs[0]
        figures += [
            Figure(f"{variant}: rows missing, opened as the command", cold["held"] - cold["rows"], "rows", 1),
            Figure(
                f"{variant}: open, median of {args.runs}", statistics.median(1000 * r["opened"] for r in runs), "ms"
            ),
            Figure("... to the app idle after it", statistics.median(1000 * r["idle"] for r in runs), "ms"),
            Figure(f"... peak RSS (worst of {args.runs})", max(r["rss_peak"] for r in runs), "MB"),
            Figure("... pagedown, p50 of 20", percentile([1000 * wall for wall, _ in first["pages"]], 50), "ms"),
            Figure("... escape after t (every row again)", 1000 * first["keys"][-1][1], "ms"),
            Figure(
                "... one more message -> its row (median)", statistics.median(1000 * r["one_more"] for r in runs), "ms"
            ),
        ]
        if first["idle_cpu"] is not None:
            figures.append(Figure(f"... idle CPU, nothing writing ({args.idle_seconds:g} s)", first["idle_cpu"], "%"))
    return figures


class Child:
    """The live watch process: its lines read in a thread; rows by key, with their stamps."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            child_command("live"), env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.cond = threading.Condition()
        self.rows: dict[str, tuple[float, float]] = {}
        self.said: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            parsed = parse(line)
            if parsed is None:
                continue
            with self.cond:
                if "row" in parsed:
                    self.rows[parsed["row"]] = (parsed["added"], parsed["drawn"])
                else:
                    self.said.append(parsed)
                self.cond.notify_all()

    def wait(self, check: Any, what: str, timeout: float = 30.0) -> None:
        with self.cond:
            if not self.cond.wait_for(check, timeout):
                raise SystemExit(f"the watch did not show {what} within {timeout:g} s")

    def reads(self) -> int:
        assert self.process.stdin is not None
        count = len(self.said)
        self.process.stdin.write("reads\n")
        self.process.stdin.flush()
        self.wait(lambda: len(self.said) > count and "reads" in self.said[-1], "its read count")
        return int(self.said[-1]["reads"])

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def live_run(args: argparse.Namespace) -> list[Figure]:
    with Bench(env=NO_RATE_LIMIT) as bench:
        alice, _bob = bench.start("alice", "bob")
        watch = Child(child_env(bench.sandbox.bus_home, bench.sandbox.home))
        try:
            watch.wait(lambda: any(said.get("opened") for said in watch.said), "its first read")
            time.sleep(2.0)  # start-up work (imports, first frames) is not the idle measured
            pid = watch.process.pid
            reads, before, at = watch.reads(), cpu_seconds(pid), time.monotonic()
            time.sleep(args.idle_seconds)
            idle = (cpu_seconds(pid) - before) / (time.monotonic() - at) * 100
            idle_reads = watch.reads() - reads
            rss_idle = rss_mb(pid)

            added, drawn = [], []
            reads, before, at = watch.reads(), cpu_seconds(pid), time.monotonic()
            for i in range(args.messages):
                sent = time.monotonic()
                result = alice.call_tool("send_message", {"to": "bob", "text": f"watch {i}"})
                if result.is_error or not isinstance(result.structured, dict):
                    raise SystemExit(f"send {i} failed: {result.text}")
                key = str(result.structured["msg_id"])
                watch.wait(lambda key=key: key in watch.rows, f"row {key}")
                added.append(1000 * (watch.rows[key][0] - sent))
                drawn.append(1000 * (watch.rows[key][1] - sent))
                time.sleep(max(0.0, sent + 1.0 - time.monotonic()))
            busy = (cpu_seconds(pid) - before) / (time.monotonic() - at) * 100
            busy_reads = watch.reads() - reads
            rss_busy = rss_mb(pid)
        finally:
            watch.close()
    print(f"-- live: alice and bob (claude-mcp adapters), the watch's process {pid}")
    print(
        f"   quiet {args.idle_seconds:g} s: {idle:.2f} % of one core, {idle_reads} bus reads, VmRSS {rss_idle:.1f} MB"
    )
    print(f"   {args.messages} messages 1/s: {busy:.2f} % of one core, {busy_reads} bus reads, VmRSS {rss_busy:.1f} MB")
    print(f"   tools/call written -> row in the table ms: {summary(added)}")
    print(f"   tools/call written -> after the next refresh ms: {summary(drawn)}")
    return [
        Figure(f"idle CPU, two live sessions ({args.idle_seconds:g} s)", idle, "%"),
        Figure("CPU with one message a second", busy, "%"),
        Figure("send -> row drawn, p50 (1 msg/s)", percentile(drawn, 50), "ms"),
        Figure("send -> row drawn, p99 (1 msg/s)", percentile(drawn, 99), "ms"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000, help="messages on the bus opened (default 10000)")
    parser.add_argument("--runs", type=int, default=3, help="opens of each bus (default 3)")
    parser.add_argument("--idle-seconds", type=float, default=20.0, help="quiet periods measured (default 20)")
    parser.add_argument("--messages", type=int, default=30, help="messages at one a second (default 30)")
    parser.add_argument("--child", choices=("open", "live"), help=argparse.SUPPRESS)
    parser.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "open":
        asyncio.run(open_child(args.idle_seconds, args.warm))
        return
    if args.child == "live":
        asyncio.run(live_child())
        return

    header(f"watch: open {args.count} messages, scroll, idle CPU, send -> row at 1/s", rate_limit_off=True)
    with tempfile.TemporaryDirectory(prefix="agentbus-watch-bench-") as root:
        figures = open_runs(Path(root), args)
    figures += live_run(args)
    print("== figures")
    report(figures)


if __name__ == "__main__":
    main()
