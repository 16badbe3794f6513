"""Receipts end to end: the transcript parser, the ladder on the bus, redelivery, the CLI and doctor."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.waiting import wait_until

from agentbus.adapters.claude_mcp import transcript
from agentbus.core import Bus, Settings
from agentbus.core.revisions import SCHEMA_HEAD
from agentbus.endpoint import Sighting
from fakeclaude import Sandbox

GRACE = {"AGENTBUS_RECEIPT_GRACE_SECONDS": "2", "AGENTBUS_SAFETY_POLL_SECONDS": "0.5"}
TAG = '<channel source="agentbus" from="alice" msg_id="7" ts="2026-12-02T03:12:20.446Z">\nhi\n</channel>'


def agentbus(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentbus.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


# ------------------------------------------------------------------ the transcript, as Claude Code writes it


def test_enqueue_is_received_and_a_channel_user_record_is_seen() -> None:
    enqueue = {"type": "queue-operation", "operation": "enqueue", "content": TAG}
    user = {"type": "user", "message": {"role": "user", "content": TAG}, "origin": {"kind": "channel"}}
    expected = Sighting(7, "alice", "2026-12-02T03:12:20.446Z", seen=False)
    assert transcript.sightings_in(json.dumps(enqueue).encode()) == [expected]
    assert transcript.sightings_in(json.dumps(user).encode()) == [Sighting(7, "alice", expected.ts, seen=True)]


@pytest.mark.parametrize(
    "record",
    [
        {"type": "user", "message": {"role": "user", "content": f"look at this: {TAG}"}},  # quoted in a prompt
        {"type": "user", "message": {"role": "user", "content": TAG}, "origin": {"kind": "human"}},
        {"type": "assistant", "message": {"role": "assistant", "content": TAG}},
        {"type": "queue-operation", "operation": "dequeue"},
        {"type": "user", "message": {"content": TAG.replace('msg_id="7"', 'msg_id="x"')}},
    ],
)
def test_anything_else_is_no_sighting(record: dict[str, object]) -> None:
    assert transcript.sightings_in(json.dumps(record).encode()) == []


NATIVE = f'{TAG}\n(agentbus: reply with the send_message tool, to="alice", reply_to=7)'
FRAMED = f"Another Claude session sent a message:\n{NATIVE}\n\nThis came from another Claude session ..."


def test_the_native_doors_records_are_received_then_seen() -> None:
    """As 2.1.337 writes them: the enqueue, the framed user record of a peer from "unknown", and mid-turn the
    attachment; a write held for the user's review (crossSessionInbound "hold") is received."""
    origin = {"kind": "peer", "from": "unknown", "verifiedPeerPid": 4242}
    enqueue = {"type": "queue-operation", "operation": "enqueue", "content": NATIVE}
    user = {"type": "user", "isMeta": True, "message": {"role": "user", "content": FRAMED}, "origin": origin}
    attachment = {"type": "attachment", "attachment": {"type": "queued_command", "prompt": NATIVE, "origin": origin}}
    held = {
        "type": "system",
        "subtype": "informational",
        "content": "Held peer message — from an unidentified session [verified pid 4242]; preview: «<channel "
        "source=agentbus from=alice msg_id=7 ts=2026-12-02T03:12:20.446Z>» …[4 lines, 166 chars total — expand "
        "to review before approving] — not delivered to Claude (1 held).",
    }
    received = Sighting(7, "alice", "2026-12-02T03:12:20.446Z", seen=False)
    seen = Sighting(7, "alice", received.ts, seen=True)
    assert transcript.sightings_in(json.dumps(enqueue).encode()) == [received]
    assert transcript.sightings_in(json.dumps(held).encode()) == [received]
    assert transcript.sightings_in(json.dumps(user).encode()) == [seen]
    assert transcript.sightings_in(json.dumps(attachment).encode()) == [seen]
    another_session = {**user, "origin": {"kind": "peer", "from": "uds:/tmp/cc-socks/99.sock"}}
    assert transcript.sightings_in(json.dumps(another_session).encode()) == []


def test_attribute_entities_are_read_back() -> None:
    tag = '<channel source="agentbus" from="a&amp;b" msg_id="3" ts="t&quot;">x</channel>'
    line = json.dumps({"type": "queue-operation", "operation": "enqueue", "content": tag}).encode()
    assert transcript.sightings_in(line) == [Sighting(3, "a&b", 't"', seen=False)]


def test_the_transcript_is_found_where_claude_code_writes_it(tmp_path: Path) -> None:
    env = {"CLAUDE_CODE_SESSION_ID": "8bf76a5c-3de1", "CLAUDE_PROJECT_DIR": "/tmp/rec331.x/proj", "HOME": str(tmp_path)}
    found = transcript.locate(env)
    assert found.path == tmp_path / ".claude/projects/-tmp-rec331-x-proj/8bf76a5c-3de1.jsonl"
    assert transcript.locate({**env, "CLAUDE_CONFIG_DIR": "/cfg"}).path == Path(
        "/cfg/projects/-tmp-rec331-x-proj/8bf76a5c-3de1.jsonl"
    )
    assert transcript.locate({"CLAUDE_PROJECT_DIR": "/p"}).path is None
    assert transcript.locate({**env, "CLAUDE_CODE_SESSION_ID": "../../etc/passwd"}).path is None


def test_a_project_path_claude_code_hashes_turns_receipts_off(tmp_path: Path) -> None:
    env = {"CLAUDE_CODE_SESSION_ID": "s1", "CLAUDE_PROJECT_DIR": "/p/" + "x" * 300, "HOME": str(tmp_path)}
    found = transcript.locate(env)
    assert found.path is None
    assert "over 200 characters" in found.reason


def test_the_follower_reads_only_new_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "projects" / "key" / "s.jsonl"
    found: list[Sighting] = []
    follower = transcript.TranscriptFollower(path, found.extend)
    follower.start()  # the directory does not exist yet: Claude Code creates it on the first record
    try:
        path.parent.mkdir(parents=True)
        record = json.dumps({"type": "queue-operation", "operation": "enqueue", "content": TAG})
        with path.open("w") as handle:
            handle.write(record[:20])
            handle.flush()
            follower.check()
            assert found == []  # half a line is not read
            handle.write(record[20:] + "\n")
        wait_until(lambda: len(found) == 1, timeout=10, what="watchdog to report the appended line")
        follower.check()
        assert len(found) == 1, "a line was read twice"
    finally:
        follower.close()


def test_reading_the_transcript_does_not_wake_the_follower_again(tmp_path: Path) -> None:
    """Its own reads raise opened/closed events; reacting to them would read forever (100% CPU)."""
    path = tmp_path / "s.jsonl"
    path.write_text("")
    found: list[Sighting] = []
    follower = transcript.TranscriptFollower(path, found.extend)
    follower.start()
    try:
        with path.open("a") as handle:
            handle.write(json.dumps({"type": "queue-operation", "operation": "enqueue", "content": TAG}) + "\n")
        wait_until(lambda: found, timeout=10, what="the appended line")
        time.sleep(0.3)  # let the events of that one write settle
        reads = follower.reads
        time.sleep(1.0)  # an observation window: nothing is written, so nothing may be read
        assert follower.reads == reads, f"the follower read the file {follower.reads - reads} times with no write"
    finally:
        follower.close()


# ------------------------------------------------------------------ the ladder through real adapters


def _bus(sandbox: Sandbox) -> Bus:
    return Bus(Settings(home=sandbox.bus_home))


def test_every_dropped_push_is_pushed_again_and_seen_exactly_once(fakeclaude_bus: Sandbox) -> None:
    drops = {"2", "4", "5"}

    def drop_first_push(params: dict[str, object]) -> bool:
        meta = params.get("meta")
        mid = str(meta.get("msg_id")) if isinstance(meta, dict) else ""
        if mid in drops:
            drops.discard(mid)
            return True
        return False

    alice = fakeclaude_bus.start_session("alice", env=GRACE)
    bob = fakeclaude_bus.start_session("bob", env=GRACE, drop_events=drop_first_push)
    bob.wait_channel_ready()
    for n in range(1, 7):
        assert not alice.call_tool("send_message", {"to": "bob", "text": f"m{n}"}).is_error
    with _bus(fakeclaude_bus) as bus:
        wait_until(lambda: all(bus.receipt(i).seen_at for i in range(1, 7)), timeout=30, what="every message seen")
        assert sorted(bob.seen_in_transcript(), key=int) == [str(i) for i in range(1, 7)]
        assert len(bob.dropped_events) == 3, bob.report()
        assert len(bob.channel_events) == 6, bob.report()
        assert all(bus.receipt(i).attempts == (2 if i in (2, 4, 5) else 1) for i in range(1, 7))


def test_a_sighting_faster_than_the_push_stamp_still_counts(fakeclaude_bus: Sandbox) -> None:
    """fakeclaude writes its transcript the moment an event arrives, often before the adapter has stamped
    the push: that sighting must count, or the message is pushed again (a duplicate for the model)."""
    alice = fakeclaude_bus.start_session("alice", env=GRACE)
    bob = fakeclaude_bus.start_session("bob", env=GRACE)
    bob.wait_channel_ready()
    for n in range(100):
        assert not alice.call_tool("send_message", {"to": "bob", "text": f"fast {n}"}).is_error
        bob.wait_for_channel(lambda e, n=n: e.content == f"fast {n}", timeout=10)
    with _bus(fakeclaude_bus) as bus:
        wait_until(lambda: all(bus.receipt(i).seen_at for i in range(1, 101)), timeout=20, what="all seen")
        assert [i for i in range(1, 101) if bus.receipt(i).attempts != 1] == []
    time.sleep(float(GRACE["AGENTBUS_RECEIPT_GRACE_SECONDS"]) + 1)  # a re-push would come within this window
    assert len(bob.channel_events) == 100, f"{len(bob.channel_events) - 100} pushed twice"


def test_a_message_never_received_is_pushed_at_most_max_times(fakeclaude_bus: Sandbox) -> None:
    env = {**GRACE, "AGENTBUS_RECEIPT_GRACE_SECONDS": "0.5", "AGENTBUS_RECEIPT_MAX_PUSHES": "3"}
    alice = fakeclaude_bus.start_session("alice", env=env)
    bob = fakeclaude_bus.start_session("bob", env=env, drop_events=lambda _params: True)
    assert not alice.call_tool("send_message", {"to": "bob", "text": "never received"}).is_error
    wait_until(lambda: len(bob.dropped_events) >= 3, timeout=20, what="three pushes")
    with _bus(fakeclaude_bus) as bus:
        # Over four more graces (and safety polls), no fourth push.
        time.sleep(2.5)
        assert len(bob.dropped_events) == 3, bob.report()
        assert bus.receipt(1).state == "pushed"
        assert bus.receipt(1).attempts == 3


def test_nothing_is_lost_across_a_sigkill_between_push_and_seen(fakeclaude_bus: Sandbox) -> None:
    alice = fakeclaude_bus.start_session("alice", env=GRACE)
    bob = fakeclaude_bus.start_session("bob", env=GRACE, drop_events=lambda _params: True)
    assert not alice.call_tool("send_message", {"to": "bob", "text": "survives"}).is_error
    with _bus(fakeclaude_bus) as bus:
        wait_until(lambda: bus.receipt(1).pushed_at is not None, timeout=10, what="the first push")
        assert bob.adapter_pid is not None
        os.kill(bob.adapter_pid, signal.SIGKILL)
        wait_until(lambda: bob.returncode is not None, timeout=10, what="the adapter to die")
        assert bus.receipt(1).state == "pushed"
        session = {k: bob.env[k] for k in ("CLAUDE_CODE_SESSION_ID", "CLAUDE_PROJECT_DIR")}
        again = fakeclaude_bus.start_session("bob", env={**GRACE, **session})
        assert again.wait_for_channel(timeout=20).content == "survives"
        wait_until(lambda: bus.receipt(1).state == "seen", timeout=10, what="seen after the restart")
        assert again.seen_in_transcript() == ["1"]


def test_an_existing_0001_bus_migrates_and_its_pending_mail_arrives(tmp_path: Path) -> None:
    home = tmp_path / "bus"
    home.mkdir(mode=0o700)
    db = home / "bus.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        """
        CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
        INSERT INTO alembic_version VALUES ('0001');
        CREATE TABLE peers (name VARCHAR(32) PRIMARY KEY, session_id VARCHAR(64) NOT NULL, pid INTEGER NOT NULL,
            host VARCHAR(255) NOT NULL, adapter VARCHAR(64) NOT NULL, can_push BOOLEAN NOT NULL,
            started_at FLOAT NOT NULL, last_seen FLOAT NOT NULL);
        CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, sender VARCHAR(32) NOT NULL,
            recipient VARCHAR(32) NOT NULL, body TEXT NOT NULL, created_at FLOAT NOT NULL, reply_to INTEGER,
            delivered_at FLOAT, claimed_by VARCHAR(128), claimed_at FLOAT, attempts INTEGER DEFAULT '0' NOT NULL);
        CREATE INDEX ix_messages_pending ON messages (recipient, delivered_at, id);
        CREATE INDEX ix_messages_sender_time ON messages (sender, created_at);
        """
    )
    conn.execute(
        "INSERT INTO messages (sender, recipient, body, created_at) VALUES ('alice', 'bob', 'from 0001', ?)",
        (time.time(),),
    )
    conn.commit()
    conn.close()
    db.chmod(0o600)
    with Sandbox(tmp_path / "sandbox") as sandbox:
        bob = sandbox.start_session("bob", bus_home=home)
        assert bob.wait_for_channel(timeout=15).content == "from 0001"
        with Bus(Settings(home=home)) as bus:
            assert bus.schema_revision == SCHEMA_HEAD
            wait_until(lambda: bus.receipt(1).state == "seen", timeout=10, what="the old mail seen")


# ------------------------------------------------------------------ what senders and doctor see


@pytest.fixture
def cli_env(fakeclaude_bus: Sandbox) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTBUS_", "CLAUDE"))}
    return {**clean, **fakeclaude_bus.env, **GRACE}


def test_send_wait_exits_0_when_seen_and_4_when_the_recipient_gives_no_receipts(
    fakeclaude_bus: Sandbox, cli_env: dict[str, str]
) -> None:
    bob = fakeclaude_bus.start_session("bob")
    carol = fakeclaude_bus.start_session("carol", transcript=False)
    for session in (bob, carol):
        session.wait_channel_ready()
    seen = agentbus(cli_env, "send", "bob", "hello bob", "--wait", "20")
    assert seen.returncode == 0, seen.stdout + seen.stderr
    assert "seen #1 by bob (in its model's context)" in seen.stdout
    pushed = agentbus(cli_env, "send", "carol", "hello carol", "--wait", "20")
    assert pushed.returncode == 4, pushed.stdout + pushed.stderr
    assert "delivered #2 to carol (pushed; it gives no receipts)" in pushed.stdout
    offline = agentbus(cli_env, "send", "dave", "nobody reads this", "--wait", "0.5")
    assert offline.returncode == 3
    assert "not seen within 0.5s: #3 (dave: queued)" in offline.stderr


def test_status_prints_the_ladder_and_json(fakeclaude_bus: Sandbox, cli_env: dict[str, str]) -> None:
    alice = fakeclaude_bus.start_session("alice")
    bob = fakeclaude_bus.start_session("bob")
    bob.wait_channel_ready()
    assert not alice.call_tool("send_message", {"to": "bob", "text": "question"}).is_error
    event = bob.wait_for_channel(timeout=10)
    assert not bob.call_tool("send_message", {"to": "alice", "text": "answer", "reply_to": 1}).is_error
    with _bus(fakeclaude_bus) as bus:
        wait_until(lambda: bus.receipt(1).seen_at is not None, timeout=10, what="seen")
    data = json.loads(agentbus(cli_env, "status", "1", "--json").stdout)
    assert data["state"] == "answered"
    assert data["answer_id"] == 2
    assert data["recipient_receipts"] is True
    ladder = data["ladder"]
    # Stamped by different processes: the seen stamp may land a moment after the reply was written.
    assert ladder["queued"] <= ladder["pushed"] <= ladder["received"] <= ladder["seen"]
    assert ladder["pushed"] <= ladder["answered"]
    assert ladder["queued"] == event.meta["ts"]
    text = agentbus(cli_env, "status", "1").stdout
    assert text.splitlines()[0] == "#1 alice -> bob: answered"
    assert "answered  " in text
    assert "by #2" in text
    unknown = agentbus(cli_env, "status", "99")
    assert unknown.returncode == 1
    assert "no message with id 99" in unknown.stderr
    with _bus(fakeclaude_bus) as bus:
        wait_until(lambda: bus.receipt(2).seen_at is not None, timeout=10, what="the answer seen by alice")
    inbox = json.loads(agentbus(cli_env, "inbox", "bob", "--json").stdout)
    assert [(m["id"], m["status"]) for m in inbox["recent"]] == [(1, "answered"), (2, "seen")]


def test_message_status_tool_answers_sender_and_recipient_only(fakeclaude_bus: Sandbox) -> None:
    alice, bob, carol = fakeclaude_bus.start_sessions("alice", "bob", "carol")
    bob.wait_channel_ready()
    assert not alice.call_tool("send_message", {"to": "bob", "text": "private"}).is_error
    bob.wait_for_channel(timeout=10)
    with _bus(fakeclaude_bus) as bus:
        wait_until(lambda: bus.receipt(1).seen_at is not None, timeout=10, what="seen")
    for session in (alice, bob):
        status = session.call_tool("message_status", {"msg_id": 1})
        assert not status.is_error, status.text
        assert status.structured["state"] == "seen", status.text
        assert "in the recipient model's context" in status.text
    refused = carol.call_tool("message_status", {"msg_id": 1})
    assert refused.is_error
    assert "no message 1 was sent by or to you" in refused.text


def test_doctor_reports_mail_pushed_but_never_seen(fakeclaude_bus: Sandbox, cli_env: dict[str, str]) -> None:
    alice = fakeclaude_bus.start_session("alice")
    bob = fakeclaude_bus.start_session("bob", drop_events=lambda _params: True)
    assert not alice.call_tool("send_message", {"to": "bob", "text": "into the void"}).is_error
    with _bus(fakeclaude_bus) as bus:
        wait_until(lambda: bus.receipt(1).pushed_at is not None, timeout=10, what="the push")

    def receipts_check() -> dict[str, str] | None:
        done = agentbus(cli_env, "doctor", "--no-spawn", "--stuck-after", "1", "--json")
        found = [c for c in json.loads(done.stdout)["checks"] if c["id"] == "receipts.bob"]
        return found[0] if found and found[0]["status"] == "fail" else None

    check = wait_until(receipts_check, timeout=20, interval=0.5, what="doctor to call the mail stuck")
    assert "pushed to bob but never received by its Claude Code" in check["summary"]
    assert "agentbus launch claude-mcp bob" in check["hint"]
    assert bob.alive
