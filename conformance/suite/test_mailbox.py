"""SPEC section 5: the mailbox (offline mail, broadcast, self-send, durability, retention)."""

import re
import time

from conformance.checks import assert_alive, assert_refused, bodies_before_sentinel, kill_adapter, send
from conformance.harness import Harness
from conformance.marks import bus_tier_only, rule
from conformance.procs import stays
from fakeclaude import Session
from fakeclaude.waiting import wait_until


@rule("MBOX-1")
def test_send_to_an_offline_name_is_queued(harness: Harness) -> None:
    """MBOX-1: Sending to a valid name that is not online queues the message (offline mailbox) and the
    result says it was queued, not delivered."""
    alice = harness.start("alice")
    result = send(alice, "nobody-yet", "are you there")
    assert re.search(r"queued|offline|not online", result.text, re.I), f"result does not say queued: {result.text!r}"
    assert not re.search(r"\bdelivered to\b", result.text, re.I), result.text
    if harness.bus_readable:
        rows = harness.db.pending("nobody-yet")
        assert [r["body"] for r in rows] == ["are you there"]
    later = harness.start("nobody-yet")
    event = later.wait_for_channel(lambda e: e.meta.get("from") == "alice", timeout=15)
    assert event.content == "are you there", f"the queued message arrived changed: {event.content!r}"


@rule("MBOX-2")
def test_broadcast_reaches_every_other_live_peer_once(harness: Harness) -> None:
    """MBOX-2: Sending to `*` (the `broadcast` tool) enqueues one message per live peer other than the
    sender; with nobody else online the result says nothing was sent."""
    alice, bob, carol = harness.start_many(["alice", "bob", "carol"])
    result = alice.call_tool("broadcast", {"text": "hello all"})
    assert not result.is_error, result.text
    if harness.bus_readable:
        rows = harness.db.messages("body = ?", ("hello all",))
        assert sorted(r["recipient"] for r in rows) == ["bob", "carol"], [dict(r) for r in rows]
        assert all(r["sender"] == "alice" for r in rows)
    for peer, name in ((bob, "bob"), (carol, "carol")):
        received = bodies_before_sentinel(alice, peer, name)
        assert received == ["hello all"], f"{name} was pushed {received!r} for one broadcast"
    assert stays(lambda: not alice.channel_events, 0.3), "the sender got its own broadcast"


@rule("MBOX-2")
def test_broadcast_with_nobody_online_sends_nothing(harness: Harness) -> None:
    """MBOX-2: ... with nobody else online the result says nothing was sent."""
    alice = harness.start("alice")
    result = alice.call_tool("broadcast", {"text": "anyone?"})
    assert re.search(r"\b(no|nobody|none|nothing|0)\b", result.text, re.I), f"result: {result.text!r}"
    if harness.bus_readable:
        assert not harness.db.messages(), "a broadcast with nobody online enqueued messages"


@rule("MBOX-3")
def test_self_send_is_refused(harness: Harness) -> None:
    """MBOX-3: Sending to oneself is refused with an error."""
    alice = harness.start("alice")
    assert_refused(alice, "send_message", {"to": "alice", "text": "me"}, "self-send")
    assert_alive(alice)
    assert not alice.channel_events, "a refused self-send was pushed to the sender"
    if harness.bus_readable:
        assert not harness.db.messages()


@rule("MBOX-4")
def test_successful_send_survives_a_sigkill_of_the_sender(harness: Harness) -> None:
    """MBOX-4: A send that returned success is durable: it is on the bus even if the sender is killed
    immediately afterwards."""
    alice = harness.start("alice")
    send(alice, "bob", "durable")
    kill_adapter(alice)
    if harness.bus_readable:
        assert [r["body"] for r in harness.db.to("bob")] == ["durable"]
    bob = harness.start("bob")
    bob.assert_channel("durable", within=5, from_="alice")


@rule("MBOX-5")
@bus_tier_only(
    "what a bus keeps after delivery, and for how long, is in its tables only; a tool that reads a "
    "delivered message back (history) would make MBOX-5 visible"
)
def test_pending_mail_is_never_pruned_and_delivered_mail_is_kept_a_day(harness: Harness) -> None:
    """MBOX-5: Delivered messages are kept at least 24 h (`AGENTBUS_DELIVERED_TTL_SECONDS`) and then may
    be pruned. Pending messages are never pruned."""
    harness.start("setup").close()
    now = time.time()
    old_pending = harness.db.insert_message("x", "zed", "ten days old", created_at=now - 10 * 86400)
    recent = harness.db.insert_message("x", "zed", "an hour old", created_at=now - 3600, delivered_at=now - 3600)
    alice = harness.start("alice", env={"AGENTBUS_HEARTBEAT_SECONDS": "0.2"})
    _two_heartbeats(harness, alice)  # the adapter's background work (pruning, if any) has had its turn
    ids = {r["id"] for r in harness.db.messages()}
    assert old_pending in ids, "a pending message was pruned"
    assert recent in ids, "a message delivered an hour ago was pruned (the default keeps it 24 h)"
    dave = harness.start("dave", env={"AGENTBUS_DELIVERED_TTL_SECONDS": "1", "AGENTBUS_HEARTBEAT_SECONDS": "0.2"})
    _two_heartbeats(harness, dave)
    assert old_pending in {r["id"] for r in harness.db.messages()}, "a pending message was pruned (TTL 1 s)"


def _two_heartbeats(harness: Harness, session: Session) -> None:
    name = harness.peer_row(session)["name"]
    for _ in range(2):
        row = harness.db.peer(name)
        assert row is not None, f"{name} is not registered"
        before: float = row["last_seen"]

        def beat(since: float = before) -> bool:
            now = harness.db.peer(name)
            return now is not None and now["last_seen"] > since

        wait_until(beat, 5, f"a heartbeat of {name}")
