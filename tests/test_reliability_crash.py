"""SIGKILL at the worst moments: the recipient mid-delivery, the sender mid-burst, a writer mid-enqueue."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conftest import helper_command
from helpers.waiting import wait_until

from agentbus.core import Bus, Settings
from fakeclaude import Sandbox, Session

NO_LIMIT = {"AGENTBUS_RATE_LIMIT_PER_MINUTE": "0"}


def fresh_bus(sandbox: Sandbox) -> Settings:
    """Create the sandbox's bus in this (warm) process so the adapters only open it."""
    settings = Settings(home=sandbox.bus_home, rate_limit_per_minute=0)
    Bus.open(settings).close()
    return settings


def pipeline_sends(session: Session, prefix: str, to: str, count: int) -> None:
    """Write ``count`` send_message calls without waiting for results; ids and texts are ``prefix<i>``."""
    lines = []
    for i in range(count):
        params = {"name": "send_message", "arguments": {"to": to, "text": f"{prefix}{i}"}}
        lines.append(json.dumps({"jsonrpc": "2.0", "id": f"{prefix}{i}", "method": "tools/call", "params": params}))
    session.send_raw("\n".join(lines))


def acknowledged(session: Session, prefix: str) -> dict[str, int]:
    """text -> msg_id of every pipelined send whose result came back as a success."""
    sent: dict[str, int] = {}
    for record in session.recorder.received():
        message: Any = record.message
        if record.kind != "response" or not isinstance(record.id, str) or not record.id.startswith(prefix):
            continue
        result = message.get("result") or {}
        if not result.get("isError") and isinstance(result.get("structuredContent"), dict):
            sent[record.id] = int(result["structuredContent"]["msg_id"])
    return sent


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def test_recipient_killed_between_push_and_stamp_gets_every_message_after_restart(fakeclaude_bus: Sandbox) -> None:
    settings = fresh_bus(fakeclaude_bus)
    alice, bob = fakeclaude_bus.start_sessions("alice", "bob", env=NO_LIMIT)
    # Enough mail that bob is still pushing when the kill lands (sends are committed in batches,
    # and a fast bob pushed all of 200 before the SIGKILL arrived once).
    count = 1000
    pipeline_sends(alice, "m", "bob", count)
    bob.wait_for_channel(timeout=10)
    bob.kill()  # SIGKILL right after the first push: later claimed rows never get their delivered stamp
    first_run = {e.meta["msg_id"]: e.content for e in bob.channel_events}

    acks = wait_until(
        lambda: len(found := acknowledged(alice, "m")) == count and found, timeout=15, what="every send result"
    )
    with Bus.open(settings) as bus:
        left = [e.id for e in bus.pending("bob")]
    assert left, "bob was killed after delivering everything: the test did not exercise the crash window"

    bob_again = fakeclaude_bus.start_session("bob", env=NO_LIMIT)
    assert bob_again.call_tool("whoami").structured["name"] == "bob"  # the dead holder's name is free again
    # Redelivery does not wait out the 30 s lease: the claimer is known dead on this host.
    wait_until(
        lambda: {e.meta["msg_id"] for e in bob_again.channel_events} >= {str(i) for i in left},
        timeout=10,
        what="redelivery of the mail bob held when it died",
    )
    received = dict(first_run)
    received.update({e.meta["msg_id"]: e.content for e in bob_again.channel_events})
    missing = {text for text, msg_id in acks.items() if received.get(str(msg_id)) != text}
    assert not missing, f"lost after the crash: {sorted(missing)[:10]}"
    with Bus.open(settings) as bus:
        wait_until(lambda: bus.pending("bob") == [], timeout=5, what="no pending mail for bob")
    assert bob_again.findings == [], bob_again.report()


def test_sender_killed_mid_burst_every_acknowledged_send_is_on_the_bus(fakeclaude_bus: Sandbox) -> None:
    settings = fresh_bus(fakeclaude_bus)
    alice, bob = fakeclaude_bus.start_sessions("alice", "bob", env=NO_LIMIT)
    # The calls of each chunk the adapter reads (64 KiB) commit together: enough chunks that the kill
    # lands between two of them.
    count = 5000
    pipeline_sends(alice, "b", "bob", count)
    wait_until(lambda: len(acknowledged(alice, "b")) >= 25, timeout=15, what="the first send results")
    alice.kill()
    acks = acknowledged(alice, "b")
    assert 25 <= len(acks) < count, f"{len(acks)} results: the kill did not land mid-burst"

    assert integrity(settings.db_path) == "ok"
    with Bus.open(settings) as bus:
        on_bus = {e.id: e.body for e in bus.history("alice", limit=count)}
    assert {text: on_bus.get(msg_id) for text, msg_id in acks.items()} == {text: text for text in acks}
    assert all(body.startswith("b") for body in on_bus.values())
    # Whatever reached the bus, acknowledged or not, is delivered to bob once.
    wait_until(lambda: len(bob.channel_events) >= len(on_bus), timeout=10, what="bob to receive every stored send")
    assert sorted(e.content for e in bob.channel_events) == sorted(on_bus.values())


def test_sigkill_during_enqueue_leaves_a_consistent_bus(isolated_env: dict[str, str], tmp_path: Path) -> None:
    settings = Settings.from_env(isolated_env)
    Bus.open(settings).close()
    start = tmp_path / "go"
    start.touch()
    for round_no, delay in enumerate((0.05, 0.15, 0.3, 0.5)):
        writer = subprocess.Popen(
            helper_command("enqueue.py", str(start), f"w{round_no}", "sink", "100000"),
            env=isolated_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with Bus.open(settings) as bus:
            wait_until(
                lambda b=bus, n=round_no: b.history(f"w{n}", limit=1), timeout=15, what="the writer's first send"
            )
        time.sleep(delay)  # the kill lands at a different point of the write loop each round
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=10)
    assert integrity(settings.db_path) == "ok"
    with Bus.open(settings) as bus:
        for round_no in range(4):
            bodies = [e.body for e in bus.history(f"w{round_no}", limit=100000)]
            # One writer sends in order and each send commits before the next: what survived is a gap-free prefix.
            assert bodies == [f"w{round_no}:{i}" for i in range(len(bodies))]
        assert bus.send("after", "sink", "still writable").ids
        assert len(bus.claim("sink", "checker", limit=100000)) == sum(s.pending for s in bus.mailbox_stats())


HOLD_THE_WRITE_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


def test_exit_on_eof_while_another_process_holds_the_write_lock(fakeclaude_bus: Sandbox) -> None:
    """SPEC LIFE-1 with the bus locked: both adapters exit within 1 s of stdin EOF while another
    process holds bus.write.lock (their writes at exit give up), and every send alice acknowledged is
    on the bus once the lock is free."""
    settings = fresh_bus(fakeclaude_bus)
    alice, bob = fakeclaude_bus.start_sessions("alice", "bob", env=NO_LIMIT)
    pipeline_sends(alice, "m", "bob", 300)
    wait_until(lambda: len(acknowledged(alice, "m")) >= 20, timeout=15, what="the first send results")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_WRITE_LOCK, str(fakeclaude_bus.bus_home / "bus.write.lock")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        for session in (alice, bob):
            result = session.close(timeout=5)
            assert result.exited, f"{session.name}: the adapter {result.describe()}"
            assert result.seconds_to_exit is not None, result.describe()
            assert result.seconds_to_exit < 1.0, result.describe()
    finally:
        assert holder.stdin is not None
        assert holder.stdout is not None
        holder.stdin.close()
        holder.wait(timeout=10)
        holder.stdout.close()
    acks = acknowledged(alice, "m")
    assert len(acks) >= 20
    with Bus.open(settings) as bus:
        on_bus = {e.id: e.body for e in bus.history("alice", limit=1000)}
    assert {text: on_bus.get(msg_id) for text, msg_id in acks.items()} == {text: text for text in acks}
