"""The bus held by another process's long write transaction: sends wait or fail clearly, nothing is lost."""

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from helpers.waiting import wait_until

from agentbus.core import Bus, Settings
from fakeclaude import Sandbox, Session

# Holds the write lock of the bus (BEGIN IMMEDIATE) until its stdin closes: a stuck writer elsewhere.
# First it may leave one pending message for each name in argv[2:], leased for two more seconds by a
# claimer on another host: their drain passes then need the write lock while it is held (an empty
# mailbox costs them only a read), and cannot push it in the instant between the commit and the lock.
HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
now = time.time()
for name in sys.argv[2:]:
    conn.execute(
        "INSERT INTO messages (sender, recipient, body, created_at, claimed_by, claimed_at, attempts)"
        " VALUES ('seed', ?, 'seeded before the lock', ?, 'elsewhere:1:seed', ?, 1)",
        (name, now, now - 28.0),
    )
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
conn.execute("COMMIT")
"""


@contextmanager
def write_lock_held(db: Path, *pending_for: str) -> Iterator[subprocess.Popen[str]]:
    """Another process holds the bus's write lock until the block ends (after seeding mail, if asked)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db), *pending_for],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        if holder.stdin is not None:
            holder.stdin.close()
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()


def raw_send(session: Session, request_id: str, to: str, text: str) -> None:
    """A tools/call send_message written without waiting for its result (pipelining)."""
    arguments = {"to": to, "text": text}
    line = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": "send_message", "arguments": arguments},
    }
    session.send_raw(json.dumps(line))


def responses(session: Session, prefix: str) -> dict[str, dict[str, Any]]:
    """Responses to raw requests whose id starts with ``prefix``, by id."""
    return {
        r.id: r.message
        for r in session.recorder.received()
        if r.kind == "response" and isinstance(r.id, str) and r.id.startswith(prefix) and r.message is not None
    }


def bodies_on_bus(db: Path) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return [row[0] for row in conn.execute("SELECT body FROM messages ORDER BY id")]
    finally:
        conn.close()


def fresh_bus(sandbox: Sandbox) -> Path:
    """Create the sandbox's bus here (cheap in an already-warm process) so the adapters only open it."""
    Bus.open(Settings(home=sandbox.bus_home)).close()
    return sandbox.bus_home / "bus.db"


def test_a_lock_longer_than_the_busy_timeout_is_a_tool_error_naming_it(fakeclaude_bus: Sandbox) -> None:
    env = {"AGENTBUS_BUSY_TIMEOUT_SECONDS": "0.4", "AGENTBUS_SAFETY_POLL_SECONDS": "0.2"}
    db = fresh_bus(fakeclaude_bus)
    alice, bob = fakeclaude_bus.start_sessions("alice", "bob", env=env)
    with write_lock_held(db, "alice", "bob"):
        started = time.monotonic()
        refused = alice.call_tool("send_message", {"to": "bob", "text": "during the lock"})
        waited = time.monotonic() - started
        assert refused.is_error, refused.text
        assert "locked" in refused.text, refused.text
        assert "busy timeout" in refused.text, refused.text
        assert 0.3 < waited < 5, f"the send gave up after {waited:.2f}s, busy timeout is 0.4s"
        assert alice.call_tool("broadcast", {"text": "during the lock"}).is_error
        # Background drain passes (the 0.2 s safety poll) also hit the lock: they must not end either session.
        for session in (alice, bob):
            wait_until(
                lambda s=session: "locked" in s.stderr, timeout=5, what=f"{session.name}'s drain to hit the lock"
            )
    assert alice.alive, alice.report() + "\n" + bob.report()
    assert bob.alive, alice.report() + "\n" + bob.report()
    sent = alice.call_tool("send_message", {"to": "bob", "text": "after the lock"})
    assert not sent.is_error, sent.text
    bob.wait_for_channel(lambda e: e.content == "after the lock", timeout=5)
    # The seeded mail, once its lease ran out, was pushed too: nothing was lost to the failed passes.
    for session in (alice, bob):
        session.wait_for_channel(lambda e: e.content == "seeded before the lock", timeout=10)
    assert "during the lock" not in bodies_on_bus(db)  # a refused send left nothing half-written


def test_sends_wait_out_a_shorter_lock_and_all_arrive(fakeclaude_bus: Sandbox) -> None:
    db = fresh_bus(fakeclaude_bus)
    alice, carol, bob = fakeclaude_bus.start_sessions(
        "alice", "carol", "bob", env={"AGENTBUS_BUSY_TIMEOUT_SECONDS": "8"}
    )
    count = 8
    with write_lock_held(db):
        started = time.monotonic()
        for i in range(count):
            raw_send(alice, f"a{i}", "bob", f"alice {i}")
            raw_send(carol, f"c{i}", "bob", f"carol {i}")
        threading.Event().wait(1.0)  # the lock's length: what is under test, not a synchronisation
        assert responses(alice, "a") == {}, "a send finished while the bus was locked"
        assert responses(carol, "c") == {}, "a send finished while the bus was locked"
    for session, prefix in ((alice, "a"), (carol, "c")):
        answers = wait_until(
            lambda s=session, p=prefix: (found := responses(s, p)) and len(found) == count and found,
            timeout=10,
            what=f"{count} send results at {session.name}",
        )
        errors = [a for a in answers.values() if "error" in a or a["result"].get("isError")]
        assert errors == [], errors
    assert time.monotonic() - started >= 1.0
    expected = {f"{who} {i}" for who in ("alice", "carol") for i in range(count)}
    got = {bob.wait_for_channel(timeout=5).content for _ in range(2 * count)}
    assert got == expected
