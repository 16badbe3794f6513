"""Core guarantees under real concurrency: many processes, one SQLite file, no loss, no duplicates."""

import json
import os
import signal
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import helper_command
from helpers.waiting import wait_until

from agentbus.core import Bus, Settings
from agentbus.core.bus import claimer_id
from agentbus.core.revisions import SCHEMA_HEAD
from agentbus.triggers import make_trigger


def start_all(commands: list[list[str]], env: dict[str, str]) -> list[subprocess.Popen[str]]:
    return [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for cmd in commands
    ]


def finish_all(procs: list[subprocess.Popen[str]], timeout: float) -> list[str]:
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, f"subprocess failed ({proc.returncode}): {err}"
        outputs.append(out)
    return outputs


def test_ten_processes_open_a_fresh_bus_at_once(isolated_env: dict[str, str], tmp_path: Path) -> None:
    start = tmp_path / "go"
    procs = start_all([helper_command("open_bus.py", str(start), f"p{i}") for i in range(10)], isolated_env)
    start.touch()
    outputs = finish_all(procs, timeout=60)
    assert [out.strip() for out in outputs] == [SCHEMA_HEAD] * 10
    with Bus.open(Settings.from_env(isolated_env)) as bus:
        assert sorted(p.name for p in bus.peers(include_stale=True)) == sorted(f"p{i}" for i in range(10))


def test_sixteen_senders_thousand_each_drained_exactly_once_in_order(
    isolated_env: dict[str, str], tmp_path: Path, bus: Bus
) -> None:
    senders, per_sender = 16, 1000
    start = tmp_path / "go"
    procs = start_all(
        [helper_command("enqueue.py", str(start), f"s{i}", "sink", str(per_sender)) for i in range(senders)],
        isolated_env,
    )
    start.touch()
    finish_all(procs, timeout=110)

    seen: list[tuple[int, str]] = []
    claimer = claimer_id("test-drain")
    while batch := bus.claim("sink", claimer, limit=500):
        seen.extend((e.id, e.body) for e in batch)
        bus.mark_delivered(e.id for e in batch)

    ids = [message_id for message_id, _ in seen]
    assert len(ids) == senders * per_sender
    assert len(set(ids)) == len(ids), "a message was drained twice"
    assert ids == sorted(ids), "drain is not in id order"
    per_sender_seq: dict[str, list[int]] = defaultdict(list)
    for _, body in seen:
        sender, _, seq = body.partition(":")
        per_sender_seq[sender].append(int(seq))
    assert set(per_sender_seq) == {f"s{i}" for i in range(senders)}
    for sender, seqs in per_sender_seq.items():
        assert seqs == list(range(per_sender)), f"{sender}'s order was not kept"
    assert bus.pending("sink") == []


def test_two_concurrent_drainers_never_push_a_message_twice(
    isolated_env: dict[str, str], tmp_path: Path, bus: Bus
) -> None:
    log, stop = tmp_path / "pushed.log", tmp_path / "stop"
    drainers = start_all(
        [helper_command("drainer.py", "run", "sink", str(log), str(stop)) for _ in range(2)], isolated_env
    )
    total = 2000
    for i in range(total):
        bus.send("producer", "sink", f"m{i}")
    stop.touch()
    finish_all(drainers, timeout=60)

    lines = log.read_text().split()
    pushed_ids = [int(x) for x in lines[0::2]]
    pids = set(lines[1::2])
    assert len(pushed_ids) == total
    assert len(set(pushed_ids)) == total, "two drainers pushed the same message"
    assert len(pids) >= 1
    assert bus.pending("sink") == []


def test_sigkilled_drainer_loses_nothing(isolated_env: dict[str, str], tmp_path: Path, bus: Bus) -> None:
    for i in range(30):
        bus.send("producer", "sink", f"m{i}")
    log, stop = tmp_path / "claims.log", tmp_path / "stop"
    hung = subprocess.Popen(
        helper_command("drainer.py", "hang", "sink", str(log), str(stop)),
        env={**isolated_env, "BATCH": "10"},
        stderr=subprocess.DEVNULL,
    )
    claimed_line = wait_until(lambda: log.exists() and log.read_text().strip(), timeout=15, what="the claim")
    claimed = [int(x) for x in claimed_line.split()[1:]]
    assert claimed == list(range(1, 11))

    # While the hung drainer lives its lease holds: nobody else may push its rows.
    assert bus.claim("sink", claimer_id("other")) == []

    hung.send_signal(signal.SIGKILL)
    hung.wait(timeout=10)
    rescued = bus.claim("sink", claimer_id("other"), limit=100)
    assert [e.id for e in rescued] == list(range(1, 31))


def test_lease_of_a_remote_claimer_expires(make_bus) -> None:  # type: ignore[no-untyped-def]
    bus = make_bus(lease_seconds=0.3)
    bus.send("producer", "sink", "hello")
    remote = "some-other-host:4242:abc"
    assert [e.body for e in bus.claim("sink", remote)] == ["hello"]
    local = claimer_id("local")
    assert bus.claim("sink", local) == [], "claimed while another host's lease was still valid"
    rescued = wait_until(lambda: bus.claim("sink", local), timeout=5, what="lease expiry")
    assert [e.body for e in rescued] == ["hello"]


@contextmanager
def running_recipient(env: dict[str, str], name: str) -> Iterator[subprocess.Popen[str]]:
    """A recipient Endpoint in its own process; stdin EOF stops it."""
    with subprocess.Popen(
        helper_command("recipient.py", name),
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdin is not None
        try:
            assert json.loads(proc.stdout.readline()) == {"ready": name}
            yield proc
        finally:
            proc.stdin.close()
            proc.wait(timeout=10)


def read_ids(proc: subprocess.Popen[str], count: int, timeout: float) -> list[int]:
    assert proc.stdout is not None
    ids: list[int] = []
    deadline = time.monotonic() + timeout
    while len(ids) < count:
        assert time.monotonic() < deadline, f"only {len(ids)} of {count} messages arrived"
        line = proc.stdout.readline()
        assert line, "recipient exited early"
        ids.append(json.loads(line)["id"])
    return ids


def test_no_lost_wakeups_file_watch_alone_delivers_every_message(isolated_env: dict[str, str], bus: Bus) -> None:
    """Safety poll off: 500 sends one at a time (fired while drains run) must all arrive.

    The trigger is the backend's default: file-watch on SQLite, pg-notify on PostgreSQL.
    """
    env = {**isolated_env, "AGENTBUS_SAFETY_POLL_SECONDS": "0"}
    trigger = make_trigger(bus.settings)
    with running_recipient(env, "sink") as recipient:
        sent = []
        for i in range(500):
            sent.extend(bus.send("producer", "sink", f"m{i}").ids)
            trigger.notify("sink")
        received = read_ids(recipient, 500, timeout=60)
        assert received == sent

        # And strictly one at a time: each message waits for its own wake.
        for i in range(50):
            (message_id,) = bus.send("producer", "sink", f"single{i}").ids
            trigger.notify("sink")
            assert read_ids(recipient, 1, timeout=5) == [message_id]
    close = getattr(trigger, "close", None)
    if close is not None:
        close()


def test_offline_mail_waits_and_drains_when_the_peer_starts(isolated_env: dict[str, str], bus: Bus) -> None:
    receipt = bus.send("producer", "late", "see you when you start")
    assert receipt.queued_offline == ("late",)
    with running_recipient(isolated_env, "late") as recipient:
        assert read_ids(recipient, 1, timeout=10) == list(receipt.ids)
    if not bus.settings.db_url:
        assert os.path.exists(bus.settings.wake_dir / "late")
