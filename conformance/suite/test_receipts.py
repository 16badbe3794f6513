"""SPEC section 6b: receipts (the ladder, as the sender's `message_status` shows it and, on the bus tier, its
row; pushed again when the client dropped it; seen once)."""

import json
import os
import re
import signal
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from conformance.checks import msg_id, reply_to_argument, send
from conformance.harness import Harness
from conformance.marks import rule
from conformance.procs import stays
from conformance.requirements import NOT_APPLICABLE
from fakeclaude import DroppedEvent, Session
from fakeclaude.waiting import wait_until

#: A short grace, yet one a loaded CI machine confirms within, so a dropped push returns soon.
GRACE = {"AGENTBUS_RECEIPT_GRACE_SECONDS": "3", "AGENTBUS_SAFETY_POLL_SECONDS": "0.5"}


def _drop_once(wanted: set[str]) -> Callable[[dict[str, Any]], bool]:
    """A fakeclaude ``drop_events`` predicate: drop the first push of each msg_id in ``wanted``."""
    dropped: set[str] = set()

    def drop(params: dict[str, Any]) -> bool:
        meta = params.get("meta")
        mid = meta.get("msg_id") if isinstance(meta, dict) else None
        if mid in wanted and mid not in dropped:
            dropped.add(str(mid))
            return True
        return False

    return drop


def _sent(recipient: Session, sender: Session, to: str, text: str) -> int:
    """Send ``text`` and return its id, as the push to ``recipient`` (the session named ``to``) carries it."""
    send(sender, to, text)
    return msg_id(recipient.wait_for_channel(lambda e: e.content == text, timeout=10))


def _status(observer: Session, message: int) -> dict[str, Any]:
    """``message_status`` of ``message`` as ``observer`` (its sender or recipient) sees it: its structured content."""
    result = observer.call_tool("message_status", {"msg_id": message})
    assert not result.is_error, f"message_status({message}) was refused: {result.text}"
    assert isinstance(result.structured, dict), f"message_status({message}) has no structured content: {result.text}"
    return result.structured


def _stamped(observer: Session, message: int, rung: str, timeout: float = 10.0) -> dict[str, Any]:
    """Wait until ``rung`` of ``message`` is stamped, as ``observer``'s ``message_status`` shows it."""

    def status_once_stamped() -> dict[str, Any] | None:
        status = _status(observer, message)
        return status if status.get(rung) else None

    return wait_until(
        status_once_stamped, timeout, f"{rung} of message {message}", describe=lambda: str(_status(observer, message))
    )


def _dropped_meta(event: DroppedEvent) -> dict[str, Any]:
    """The meta of a push the client dropped (a channel notification's, or a native line's tag)."""
    meta = event.params.get("meta") if isinstance(event.params, dict) else None
    assert isinstance(meta, dict), f"a dropped push without meta: {event.params!r}"
    return meta


def _row(harness: Harness, message: int) -> dict[str, Any]:
    row = harness.db.message(message)
    return dict(zip(row.keys(), row, strict=True))


@rule("RCPT-1")
def test_the_ladder_stamps_only_what_was_proven(harness: Harness) -> None:
    """RCPT-1: Every message is on a ladder whose rungs are stamped on its row: queued -> pushed -> received
    -> seen -> answered. `delivered_at` is when the adapter was done with it. A core never stamps a rung it
    has no proof of.

    Seen through the sender's message_status (an adapter with receipts offers it): a pulled message
    is never stamped pushed or seen; a pushed one is pushed after it was queued, and seen (when it
    is) after it was pushed. On the bus tier the rows too."""
    observable = "receipts" in harness.manifest.capabilities
    if not observable and harness.gate.tier == "wire":
        pytest.skip(
            f"{NOT_APPLICABLE} on the wire tier: the ladder shows only in the bus unless the adapter offers "
            "message_status (capability receipts)"
        )
    if not observable:
        harness.db.exists()  # the gate: not applicable, with its sentence, on a bus without the shared schema
    alice = harness.start("alice")
    send(alice, "bob", "for a session without channels")
    bob = harness.start("bob", channels=False, native=False)  # a Claude Code with no door for agentbus
    pulled_result = bob.call_tool("read_messages", {})
    pulled_ids = [int(i) for i in re.findall(r'msg_id="(\d+)"', pulled_result.text)]
    assert len(pulled_ids) == 1, f"read_messages returned {pulled_ids}: {pulled_result.text!r}"
    pulled = pulled_ids[0]
    if observable:
        status = _status(alice, pulled)
        assert status.get("pushed") is None, f"pull stamped a push: {status}"
        assert status.get("seen") is None, f"pull stamped a sighting: {status}"
    if harness.bus_readable:
        row = _row(harness, pulled)
        assert row["delivered_at"] is not None, row
        assert row["pushed_at"] is None, f"pull stamped a push or a sighting: {row}"
        assert row["seen_at"] is None, f"pull stamped a push or a sighting: {row}"
    carol = harness.start("carol")
    pushed = _sent(carol, alice, "carol", "pushed to carol")
    reply = send(carol, "alice", "answer", reply_to=reply_to_argument(carol, pushed))
    assert not reply.is_error
    if observable:
        status = _stamped(alice, pushed, "answered")
        assert status["pushed"] is not None, status
        assert status["queued"] <= status["pushed"], status
        if status.get("seen") is not None:
            assert status["received"] is not None, status
            assert status["pushed"] <= status["seen"], status
    if harness.bus_readable:
        wait_until(lambda: harness.db.message(pushed)["delivered_at"] is not None, 10, "the push to be stamped")
        row = _row(harness, pushed)
        assert row["pushed_at"] is not None, row
        assert row["pushed_at"] <= row["delivered_at"], row
        assert row["pushed_at"] >= row["created_at"], row


@rule("RCPT-2")
def test_pushes_are_delivered_when_seen_in_the_transcript(harness: Harness) -> None:
    """RCPT-2 (capability `receipts`): An adapter with receipts registers with `peers.receipts = true`,
    stamps `pushed_at` after the push resolved (not `delivered_at`), and stamps `received_at`, then
    `seen_at` and `delivered_at`, only when its client's record shows the event."""
    alice = harness.start("alice")
    bob = harness.start("bob")
    bob.begin_turn()  # the model is busy: the event is received (queued), not seen
    message = _sent(bob, alice, "bob", "seen once the turn ends")
    status = _stamped(alice, message, "received")
    assert status["pushed"] is not None, status
    assert status["seen"] is None, f"seen while the model's turn was still running: {status}"
    assert status.get("recipient_receipts") is True, f"bob does not announce receipts: {status}"
    if harness.bus_readable:
        row = _row(harness, message)
        assert row["delivered_at"] is None, row
        peer = harness.db.peer("bob")
        assert peer is not None, f"bob does not announce receipts: {peer}"
        assert bool(peer["receipts"]), f"bob does not announce receipts: {peer}"
    bob.end_turn()
    status = _stamped(alice, message, "seen")
    assert status["received"] <= status["seen"], status
    if harness.bus_readable:
        assert _row(harness, message)["delivered_at"] is not None


@rule("RCPT-2")
def test_without_a_transcript_it_says_so_and_stamps_at_push(harness: Harness) -> None:
    """RCPT-2 (capability `receipts`): Where it has no such record (another client, no session id) it says
    so in `whoami` and falls back to `delivered_at` at push."""
    alice = harness.start("alice")
    bob = harness.start("bob", transcript=False)
    message = _sent(bob, alice, "bob", "no transcript here")
    whoami = bob.call_tool("whoami", {})
    assert "receipt" in whoami.text.lower(), f"whoami does not say receipts are off: {whoami.text!r}"
    status = _stamped(alice, message, "pushed")
    assert status.get("recipient_receipts") is False, f"bob announces receipts it cannot keep: {status}"
    assert status.get("seen") is None, f"seen stamped with no record to show it: {status}"
    if harness.bus_readable:
        wait_until(lambda: harness.db.message(message)["delivered_at"] is not None, 10, "delivered at push")
        peer = harness.db.peer("bob")
        assert peer is not None, peer
        assert not bool(peer["receipts"]), peer


@rule("RCPT-3")
def test_a_dropped_push_is_pushed_again_and_seen_once(harness: Harness) -> None:
    """RCPT-3 (capability `receipts`): A message pushed but not received within the receipt grace is pushed
    again; a received one is not, and a seen one never is."""
    alice = harness.start("alice", env=GRACE)
    bob = harness.start("bob", env=GRACE, drop_events=_drop_once({"2", "4"}))
    bob.wait_channel_ready()
    bodies = [f"message {n}" for n in range(1, 6)]
    for body in bodies:
        send(alice, "bob", body)
    wait_until(lambda: len(bob.channel_events) >= 5, 20, "every message, the dropped ones pushed again")
    ids = sorted({msg_id(e) for e in bob.channel_events})
    assert len(ids) == 5, f"pushed {ids}"
    for message in ids:
        _stamped(alice, message, "seen")
    assert len(bob.dropped_events) == 2, bob.report()
    seen = bob.seen_in_transcript()
    assert sorted(seen) == sorted(str(i) for i in ids), f"the model saw {seen}, expected each of {ids} once"
    assert stays(lambda: len(bob.channel_events) == 5, 2.5), f"a seen message was pushed again: {bob.report()}"


@rule("RCPT-3")
def test_a_received_message_waits_for_the_turn_and_is_not_pushed_again(harness: Harness) -> None:
    """RCPT-3 (capability `receipts`): a received one is not pushed again (the client holds it for the
    model's next turn)."""
    alice = harness.start("alice", env=GRACE)
    bob = harness.start("bob", env=GRACE)
    bob.wait_channel_ready()
    bob.begin_turn()
    message = _sent(bob, alice, "bob", "wait for the turn")
    assert stays(lambda: len(bob.channel_events) == 1, 3.0), f"pushed again while queued: {bob.report()}"
    bob.end_turn()
    _stamped(alice, message, "seen")
    assert bob.seen_in_transcript() == [str(message)]


def _same_session_env(first: Session) -> dict[str, str]:
    env = first.env
    return {key: env[key] for key in ("CLAUDE_CODE_SESSION_ID", "CLAUDE_PROJECT_DIR")}


@rule("RCPT-4")
def test_a_restarted_adapter_does_not_push_what_the_model_saw(harness: Harness) -> None:
    """RCPT-4 (capability `receipts`): A restarted adapter in the same client session first reads that
    session's record, so what the model already saw is stamped, not pushed again."""
    alice = harness.start("alice", env=GRACE)
    bob = harness.start("bob", env=GRACE)
    bob.wait_channel_ready()
    bob.begin_turn()
    message = _sent(bob, alice, "bob", "seen after the adapter died")
    _stamped(alice, message, "received")
    assert bob.adapter_pid is not None
    os.kill(bob.adapter_pid, signal.SIGKILL)  # between push and seen
    wait_until(lambda: bob.returncode is not None, 10, "the adapter to die")
    bob.end_turn()  # the client still shows it to the model: the transcript has it
    again = harness.start("bob", env={**GRACE, **_same_session_env(bob)})
    _stamped(alice, message, "seen")
    assert stays(lambda: again.channel_events == [], 2.5), f"pushed again after it was seen: {again.report()}"
    assert again.seen_in_transcript() == [str(message)]


@rule("RCPT-4")
def test_a_push_lost_with_a_killed_adapter_is_pushed_again(harness: Harness) -> None:
    """RCPT-4 (capability `receipts`): A restarted adapter in the same client session first reads that
    session's record; what it does not show is pushed again (nothing is lost across a SIGKILL)."""
    alice = harness.start("alice", env=GRACE)
    bob = harness.start("bob", env=GRACE, drop_events=lambda _params: True)
    send(alice, "bob", "lost with the first adapter")
    wait_until(lambda: bob.dropped_events, 10, "the first push (dropped by the client)")
    message = int(_dropped_meta(bob.dropped_events[0])["msg_id"])
    assert bob.adapter_pid is not None
    os.kill(bob.adapter_pid, signal.SIGKILL)
    wait_until(lambda: bob.returncode is not None, 10, "the adapter to die")
    again = harness.start("bob", env={**GRACE, **_same_session_env(bob)})
    assert again.wait_for_channel(timeout=15).content == "lost with the first adapter"
    _stamped(alice, message, "seen")
    assert again.seen_in_transcript() == [str(message)]


@rule("RCPT-5")
def test_only_its_own_session_record_and_its_own_tags_count(harness: Harness) -> None:
    """RCPT-5 (capability `receipts`): The adapter reads only its own session's record, looks only for its
    channel tags, and stores or logs nothing else from it."""
    alice = harness.start("alice")
    bob = harness.start("bob", env={"AGENTBUS_LOG_LEVEL": "DEBUG"}, drop_events=lambda _params: True)
    send(alice, "bob", "dropped, and claimed seen elsewhere")
    wait_until(lambda: bob.dropped_events, 10, "the push (dropped by the client)")
    message = int(_dropped_meta(bob.dropped_events[0])["msg_id"])
    status = _stamped(alice, message, "pushed")
    tag = f'<channel source="agentbus" from="alice" msg_id="{message}" ts="{status["queued"]}">x</channel>'
    path = bob.transcript_path
    assert path is not None
    secret = f"the user's private words {uuid.uuid4()}"
    other = path.with_name(f"{uuid.uuid4()}.jsonl")  # another session of the same project
    record = {"type": "user", "message": {"role": "user", "content": tag}, "origin": {"kind": "channel"}}
    other.parent.mkdir(parents=True, exist_ok=True)
    other.write_text(json.dumps(record) + "\n")
    assert bob.transcript is not None
    bob.transcript.prompt(secret)
    bob.transcript.prompt(f"quoting a tag is not seeing it: {tag}")
    unseen = stays(lambda: _status(alice, message).get("seen") is None, 2.0)
    assert unseen, "stamped seen from another session's record or from a tag quoted in a prompt"
    if harness.bus_readable:
        assert harness.db.message(message)["seen_at"] is None
    assert secret not in bob.stderr, "the adapter logged the user's conversation"
