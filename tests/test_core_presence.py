"""Presence, mailbox semantics, rename, pruning and stats, on a real SQLite file."""

import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from agentbus.core import Bus
from agentbus.core.bus import claimer_id
from agentbus.core.envelope import iso_utc
from agentbus.core.records import PushStamp


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_register_list_unregister(bus: Bus) -> None:
    bus.register("alice", session_id="a", adapter="test")
    bus.register("bob", session_id="b", adapter="test", can_push=True)
    peers = bus.peers()
    assert [(p.name, p.can_push) for p in peers] == [("alice", False), ("bob", True)]
    bus.unregister("alice", "a")
    assert [p.name for p in bus.peers()] == ["bob"]


def test_dead_process_is_offline_at_once(bus: Bus) -> None:
    ghost = bus.register("ghost", session_id="g", adapter="test", pid=dead_pid())
    alive = bus.register("alive", session_id="l", adapter="test")
    assert (bus.is_live(ghost), bus.is_live(alive)) == (False, True)
    assert [p.name for p in bus.peers()] == ["alive"]
    assert [p.name for p in bus.peers(include_stale=True)] == ["alive"], "the dead peer was reaped"


def test_peer_on_another_host_is_not_pid_checked(bus: Bus) -> None:
    bus.register("remote", session_id="r", adapter="test", pid=dead_pid(), host="elsewhere")
    assert [p.name for p in bus.peers()] == ["remote"]


def test_silent_peer_goes_stale_and_heartbeat_says_so(make_bus: Callable[..., Bus]) -> None:
    bus = make_bus(stale_seconds=0.2)
    bus.register("sleepy", session_id="s", adapter="test")
    assert bus.heartbeat("sleepy", "s") is True
    deadline = time.monotonic() + 5
    while bus.peers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bus.peers() == []
    assert bus.heartbeat("sleepy", "s") is False


def test_name_of_a_dead_peer_can_be_taken(bus: Bus) -> None:
    bus.register("alice", session_id="old", adapter="test", pid=dead_pid())
    peer = bus.register("alice", session_id="new", adapter="test")
    assert peer.session_id == "new"


def test_register_unique_suffixes_when_taken(bus: Bus) -> None:
    bus.register("alice", session_id="1", adapter="test")
    assert bus.register_unique("alice", session_id="2", adapter="test").name == "alice-2"
    assert bus.register_unique("alice", session_id="3", adapter="test").name == "alice-3"
    long_name = "x" * 32
    bus.register(long_name, session_id="4", adapter="test")
    assert bus.register_unique(long_name, session_id="5", adapter="test").name == "x" * 30 + "-2"


def test_send_to_offline_peer_is_queued_and_says_so(bus: Bus) -> None:
    bus.register("alice", session_id="a", adapter="test")
    receipt = bus.send("alice", "bob", "are you there?")
    assert receipt.recipients == ("bob",)
    assert receipt.queued_offline == ("bob",)
    assert [e.body for e in bus.pending("bob")] == ["are you there?"]


def test_ids_are_monotonic_and_never_reused(bus: Bus) -> None:
    first = bus.send("alice", "bob", "1").ids[0]
    bus.mark_delivered([first])
    assert bus.prune(older_than_seconds=-1) == 1
    second = bus.send("alice", "bob", "2").ids[0]
    assert second > first


def test_broadcast_fans_out_to_live_peers_except_sender(bus: Bus) -> None:
    for name in ("alice", "bob", "carol"):
        bus.register(name, session_id=name, adapter="test")
    bus.register("ghost", session_id="g", adapter="test", pid=dead_pid())
    receipt = bus.send("alice", "*", "hello all")
    assert receipt.recipients == ("bob", "carol")
    assert len(set(receipt.ids)) == 2
    assert [e.body for e in bus.pending("bob")] == ["hello all"]
    assert bus.pending("ghost") == []


def test_broadcast_with_nobody_online_sends_nothing(bus: Bus) -> None:
    bus.register("alice", session_id="a", adapter="test")
    assert bus.send("alice", "*", "anyone?").ids == ()


def test_rename_is_atomic_and_pending_mail_follows(bus: Bus) -> None:
    bus.register("bob", session_id="b", adapter="test")
    bus.send("alice", "bob", "one")
    bus.send("alice", "bob", "two")
    bus.claim("bob", claimer_id("b"), limit=1)
    peer = bus.rename("bob", "robert", "b")
    assert peer.name == "robert"
    assert [p.name for p in bus.peers()] == ["robert"]
    assert bus.pending("bob") == []
    moved = bus.claim("robert", claimer_id("b"))
    assert [e.body for e in moved] == ["one", "two"]


def test_claim_in_order_and_failed_push_stays_pending(bus: Bus) -> None:
    for i in range(5):
        bus.send("alice", "bob", f"m{i}")
    me = claimer_id("me")
    batch = bus.claim("bob", me, limit=3)
    assert [e.body for e in batch] == ["m0", "m1", "m2"]
    bus.mark_delivered([batch[0].id])
    bus.release([e.id for e in batch[1:]], me)
    again = bus.claim("bob", me)
    assert [e.body for e in again] == ["m1", "m2", "m3", "m4"]
    assert bus.delivery_state(batch[0].id)[0] is not None
    assert bus.delivery_state(again[0].id)[0] is None


def test_prune_removes_only_old_delivered_rows(bus: Bus) -> None:
    delivered = bus.send("alice", "bob", "old").ids[0]
    bus.send("alice", "bob", "pending")
    bus.mark_delivered([delivered])
    assert bus.prune() == 0, "fresh delivered mail is kept for the TTL"
    assert bus.prune(older_than_seconds=-1) == 1
    assert [e.body for e in bus.pending("bob")] == ["pending"]


def test_mailbox_stats(bus: Bus) -> None:
    before = time.time()
    a = bus.send("x", "alice", "1").ids[0]
    bus.send("x", "alice", "2")
    bus.send("x", "bob", "3")
    bus.mark_delivered([a])
    stats = {s.recipient: s for s in bus.mailbox_stats()}
    assert (stats["alice"].pending, stats["alice"].delivered) == (1, 1)
    assert (stats["bob"].pending, stats["bob"].delivered) == (1, 0)
    assert stats["bob"].oldest_pending_at is not None
    assert stats["bob"].oldest_pending_at >= before


def test_history_is_oldest_first(bus: Bus) -> None:
    for i in range(5):
        bus.send("alice", "bob", f"m{i}")
    bus.send("carol", "dave", "other")
    assert [e.body for e in bus.history("bob", limit=3)] == ["m2", "m3", "m4"]
    assert [e.body for e in bus.history(after_id=5)] == ["other"]
    assert [e.body for e in bus.history(after_id=1, limit=2)] == ["m1", "m2"], "paging must not skip"


@pytest.mark.parametrize("body", ["plain", "<channel>x</channel>", "emoji 🚀", "línea\nnueva", "\t\r\x07"])
def test_bodies_survive_byte_for_byte(bus: Bus, body: str) -> None:
    bus.send("alice", "bob", body)
    assert bus.pending("bob")[0].body == body


def test_a_reply_before_the_push_stamp_leaves_the_push_on_the_ladder(bus: Bus) -> None:
    """A recipient may answer before its adapter stamps the push (Codex shows the input before its
    answer reaches the adapter): the reply proves seen and delivered, and the push stamp that follows
    still fills in pushed_at instead of being skipped (SPEC RCPT-1: every proven rung is stamped)."""
    bus.register("alice", session_id="a", adapter="test", can_push=True)
    bus.register("carol", session_id="c", adapter="test", can_push=True)
    question = bus.send("alice", "carol", "question").ids[0]
    claimed = bus.claim("carol", claimer_id("c"))
    assert [e.id for e in claimed] == [question]
    bus.send("carol", "alice", "answer", reply_to=question)
    answered = bus.receipt(question)
    assert answered.delivered_at is not None
    assert answered.seen_at is not None
    assert answered.pushed_at is None
    bus.mark_delivered([question])
    stamped = bus.receipt(question)
    assert stamped.pushed_at is not None
    assert stamped.seen_at is not None
    assert stamped.pushed_at <= stamped.seen_at, "the push came before the reply that proved it seen"
    assert stamped.delivered_at == answered.delivered_at, "the earlier delivered stamp must stay"


def test_a_reply_before_a_later_push_stamp_keeps_the_ladder_in_order(bus: Bus) -> None:
    """With receipts the push stamp is written after the push resolved, and a reply can be stamped
    before it with an earlier time (the codex kit on PostgreSQL saw seen_at 0.3 ms before pushed_at):
    the push is then stamped no later than the sight it preceded (SPEC RCPT-1's order)."""
    bus.register("alice", session_id="a", adapter="test", can_push=True)
    bus.register("carol", session_id="c", adapter="test", can_push=True, receipts=True)
    me = claimer_id("c")
    question = bus.send("alice", "carol", "question").ids[0]
    bus.claim("carol", me)
    bus.send("carol", "alice", "answer", reply_to=question)
    seen_at = bus.receipt(question).seen_at
    assert seen_at is not None
    bus.mark_pushed(me, [PushStamp((question,), seen_at + 0.001)])
    stamped = bus.receipt(question)
    assert stamped.pushed_at is not None, stamped
    assert stamped.pushed_at <= stamped.seen_at, stamped


def test_push_stamps_handed_to_the_next_claim_are_written_first(bus: Bus) -> None:
    """A peer with receipts hands its push stamps to its next write (SPEC SCHEMA-4): written first, so
    the rows they name are not claimed again, and with the time each push resolved."""
    bus.register("alice", session_id="a", adapter="test", can_push=True)
    bus.register("bob", session_id="b", adapter="test", can_push=True, receipts=True)
    me = claimer_id("b")
    first, second = (bus.send("alice", "bob", text).ids[0] for text in ("one", "two"))
    assert [e.id for e in bus.claim("bob", me, limit=1)] == [first]
    # Without its stamp the pushed row is claimable again by the same claimer: the duplicate it prevents.
    assert [e.id for e in bus.claim("bob", me, limit=1)] == [first]
    pushed_at = time.time() - 0.05
    again = bus.claim("bob", me, pushes=[PushStamp((first,), pushed_at)])
    assert [e.id for e in again] == [second]
    assert bus.receipt(first).pushed_at == pushed_at
    assert bus.receipt(first).state == "pushed"


def test_push_stamps_handed_to_a_receipt_keep_the_push_time(bus: Bus) -> None:
    bus.register("alice", session_id="a", adapter="test", can_push=True)
    bus.register("bob", session_id="b", adapter="test", can_push=True, receipts=True)
    me = claimer_id("b")
    message = bus.send("alice", "bob", "seen soon").ids[0]
    (envelope,) = bus.claim("bob", me)
    pushed_at = time.time() - 0.05
    seen, _ = bus.confirm_receipts(
        "bob",
        [(message, "alice", iso_utc(envelope.created_at), True)],
        claimer=me,
        pushes=[PushStamp((message,), pushed_at)],
    )
    assert seen == [message]
    receipt = bus.receipt(message)
    assert receipt.pushed_at == pushed_at < receipt.seen_at == receipt.delivered_at
