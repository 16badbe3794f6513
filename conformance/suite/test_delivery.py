"""SPEC section 6: delivery (the exact push, meta, order, stamping after the write, at-least-once, leases)."""

import functools
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime

from conformance.busfile import HOST
from conformance.checks import assert_refused, msg_id, reply_to_argument, send, wait_events
from conformance.harness import Harness
from conformance.marks import bus_tier_only, requires, rule
from conformance.procs import stays
from conformance.rawclient import RawClient
from fakeclaude.waiting import wait_until

META_KEY = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
#: MUST tests allow for the safety poll (DELIV-10) instead of depending on the trigger's speed.
FAST_POLL = {"AGENTBUS_SAFETY_POLL_SECONDS": "0.5"}
#: SHOULD tests of the trigger make the safety poll too slow to hide a lost wake.
SLOW_POLL = {"AGENTBUS_SAFETY_POLL_SECONDS": "30"}


@rule("DELIV-1")
def test_push_is_the_exact_channel_notification(harness: Harness) -> None:
    """DELIV-1: The claude-mcp delivery pushes each message as the JSON-RPC notification
    `notifications/claude/channel` with params `{"content": <body>, "meta": {...}}`."""
    alice, bob = harness.start_many(["alice", "bob"])
    send(alice, "bob", "exact wire form")
    event = bob.wait_for_channel(timeout=5)
    message = event.record.message
    assert message is not None
    assert set(message) == {"jsonrpc", "method", "params"}, f"not a bare notification: {event.record.raw}"
    assert message["jsonrpc"] == "2.0"
    assert message["method"] == "notifications/claude/channel"
    assert set(message["params"]) == {"content", "meta"}, f"params keys: {sorted(message['params'])}"
    assert message["params"]["content"] == "exact wire form"
    assert isinstance(message["params"]["meta"], dict)


@rule("DELIV-2")
def test_meta_keys_and_string_values(harness: Harness) -> None:
    """DELIV-2: `meta` holds `from`, `msg_id` (decimal string), `ts` (ISO 8601 UTC with `Z`, e.g.
    `2026-11-25T14:00:00.123Z`) and, when set, `reply_to` (decimal string). Every key matches
    `^[a-zA-Z_][a-zA-Z0-9_]*$` and every value is a string."""
    alice, bob = harness.start_many(["alice", "bob"])
    before = time.time()
    send(alice, "bob", "meta check")
    event = bob.wait_for_channel(timeout=5)
    meta = event.meta
    bad_keys = [k for k in meta if not META_KEY.match(k)]
    assert not bad_keys, f"meta keys Claude Code drops: {bad_keys}"
    not_strings = {k: v for k, v in meta.items() if not isinstance(v, str)}
    assert not not_strings, f"meta values that are not strings: {not_strings}"
    assert meta.get("from") == "alice", f"meta.from: {meta}"
    msg_id(event)  # a decimal string
    assert TS.match(meta.get("ts", "")), f"meta.ts is not ISO 8601 UTC with Z: {meta.get('ts')!r}"
    stamp = datetime.fromisoformat(meta["ts"].replace("Z", "+00:00")).timestamp()
    assert before - 2 < stamp < time.time() + 2
    if harness.bus_readable:
        row = harness.db.message(msg_id(event))
        assert (row["sender"], row["recipient"], row["body"]) == ("alice", "bob", "meta check")
        assert abs(stamp - row["created_at"]) < 0.01, f"meta.ts {meta['ts']} is not created_at {row['created_at']}"
    assert "reply_to" not in meta, f"meta.reply_to present on a message that is no reply: {meta}"


def _await_stuck(
    bob: RawClient, harness: Harness, window: float = 0.25, limit: float = 3.0, *, mid_drain: bool = False
) -> None:
    """Observe until the pipe and bob's mailbox stop changing (the adapter is blocked or done).

    ``mid_drain`` accepts only the blocked case: a message claimed but not yet stamped delivered. On a
    loaded machine a starved adapter can look still for a moment before it even claimed its mail."""

    def state() -> tuple[int, int, int, int]:
        if not harness.bus_readable:  # the wire tier: the pipe alone
            return (bob.pipe_bytes(), 0, 0, 0)
        rows = harness.db.to("bob")
        return (
            bob.pipe_bytes(),
            sum(1 for r in rows if r["delivered_at"] is not None),
            sum(1 for r in rows if r["claimed_by"]),
            sum(1 for r in rows if r["claimed_by"] and r["delivered_at"] is None),
        )

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        current = state()
        if mid_drain and harness.bus_readable and not current[3]:
            time.sleep(0.02)
            continue
        if stays(functools.partial(_unchanged, state, current), window):
            return


@rule("DELIV-3")
@requires("shared_bus")
@requires("channel_door")  # a push stuck in a full stdout pipe
def test_never_stamped_delivered_before_the_notification_is_written(harness: Harness) -> None:
    """DELIV-3: A message is stamped delivered only after the Delivery port resolved (the notification
    was written). A push that fails leaves it pending.

    The recipient's stdout pipe holds one page and is read only between snapshots: each snapshot of
    the bus (ids stamped delivered) must be covered by the notifications complete in the pipe right
    after it (the kit reads just the bytes that were there), whatever the timing."""
    alice = harness.start("alice")
    bob = harness.raw("bob", env=FAST_POLL, pipe_size=4096)
    bodies = [f"{i}:" + "x" * 3000 for i in range(5)]
    for body in bodies:
        send(alice, "bob", body)
    ids = [row["id"] for row in harness.db.to("bob")]
    assert len(ids) == len(bodies)
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        _await_stuck(bob, harness)
        stamped = harness.db.delivered_ids("bob")
        bob.read_available(bob.pipe_bytes())  # only what was written by now
        written = set(bob.channel_ids())
        early = sorted(stamped - written)
        assert not early, (
            f"message(s) {early} stamped delivered while their notification was not in the pipe yet "
            f"(written so far: {sorted(written)})"
        )
        if written >= set(ids) and stamped >= set(ids):
            break
    else:
        raise AssertionError(
            f"not every message was pushed and stamped: written {sorted(set(bob.channel_ids()))}, "
            f"stamped {sorted(harness.db.delivered_ids('bob'))}, expected {ids}\n{bob.stderr_tail()}"
        )


@rule("DELIV-3")
@requires("channel_door")  # a push stuck in a full stdout pipe
def test_failed_push_leaves_the_message_pending(harness: Harness) -> None:
    """DELIV-3: A message is stamped delivered only after the Delivery port resolved (the notification
    was written). A push that fails leaves it pending.

    The recipient's client goes away while a push is blocked in the pipe: every message its client
    did not read must reach the next session of the same name."""
    alice = harness.start("alice")
    bob = harness.raw("bob", env=FAST_POLL, pipe_size=4096)
    bodies = [f"{i}:" + "y" * 3000 for i in range(4)]
    for body in bodies:
        send(alice, "bob", body)
    wait_until(lambda: bob.pipe_bytes() > 0, 8, "bob's first push")
    _await_stuck(bob, harness)  # the next push is blocked on the full pipe: now the client goes away
    bob.kill()
    bob.read_to_eof(2)
    written = {str(params.get("content")) for params in bob.channel_events}
    missing = set(bodies) - written
    assert missing, "every message fit in the pipe; the kill did not interrupt a push"
    if harness.bus_readable:
        all_ids = [row["id"] for row in harness.db.to("bob")]
        pending = {r["id"] for r in harness.db.pending("bob")}
        lost = sorted(set(all_ids) - set(bob.channel_ids()) - pending)
        assert not lost, f"message(s) {lost} stamped delivered but never written to the client"
    again = harness.start("bob", env=FAST_POLL)

    def got() -> set[str]:
        return {e.content for e in again.channel_events}

    wait_until(
        lambda: missing <= got(),
        8,
        f"the {len(missing)} message(s) the first client never read to reach bob's next session",
        describe=lambda: f"still missing: {sorted(b[:2] for b in missing - got())}",
    )


@rule("DELIV-4")
def test_pushes_follow_id_order(harness: Harness) -> None:
    """DELIV-4: Messages to one recipient are pushed in id order."""
    alice, bob = harness.start_many(["alice", "bob"])
    for i in range(30):
        send(alice, "bob", f"order {i}")
    events = wait_events(bob, 30, timeout=8)
    ids = [msg_id(e) for e in events]
    assert ids == sorted(ids), f"pushed out of id order: {ids}"
    assert [e.content for e in events] == [f"order {i}" for i in range(30)]


@rule("DELIV-5")
@requires("channel_door")  # a push stuck in a full stdout pipe
def test_at_least_once_across_a_sigkill_mid_delivery(harness: Harness) -> None:
    """DELIV-5: At-least-once: a message claimed by a drainer that dies before the delivered stamp is
    delivered again later (after its lease expires, or at once when the claimer's process is known dead
    on this host). Duplicates are allowed in that case; loss is not.

    Bob's mailbox is filled while he is offline; his adapter is SIGKILLed while its drain is blocked
    on a full pipe; a new session of bob must get every message the first one did not (well before
    the 30 s lease expires, since the dead claimer is on this host)."""
    alice = harness.start("alice")
    bodies = [f"{i}:" + "z" * 1000 for i in range(40)]
    for body in bodies:
        send(alice, "bob", body)
    first = harness.raw("bob", env=FAST_POLL, pipe_size=4096)
    first.read_until(lambda m: m.get("method") == "notifications/claude/channel", 8, "a first push")
    _await_stuck(first, harness)
    first.kill()
    first.read_to_eof(2)
    seen_first = {str(params.get("content")) for params in first.channel_events}
    missing = set(bodies) - seen_first
    assert missing, "the whole mailbox fit in the pipe; the kill did not interrupt a drain"
    second = harness.start("bob", env=FAST_POLL)

    def lost() -> set[str]:
        return missing - {e.content for e in second.channel_events}

    wait_until(
        lambda: not lost(),
        10,
        "bob's second session to get every message the first did not",
        describe=lambda: (
            f"{len(lost())} message(s) pushed to neither session (lost): {sorted(b.split(':')[0] for b in lost())[:20]}"
        ),
    )
    if harness.bus_readable:
        wait_until(lambda: not harness.db.pending("bob"), 10, "bob's second session to drain the mailbox")


@rule("DELIV-6")
@bus_tier_only(
    "one mailbox has one drainer per name (NAME-3), so two drainers of it meet only on a bus shared with "
    "another core; a test hook to start a second drainer for a live name would make DELIV-6 visible"
)
def test_a_live_lease_of_another_drainer_is_respected(harness: Harness) -> None:
    """DELIV-6: Two drainers of one mailbox never push the same message at the same time: a drainer
    claims rows with a lease (`claimed_by`, `claimed_at`, default 30 s) and a mailbox with a live lease
    held by another claimer is not claimed.

    The kit (a live process on this host) holds a fresh lease on bob's mail; bob must not push it
    until the lease is released."""
    bob = harness.start("bob", env=FAST_POLL)
    claimer = f"{HOST}:{os.getpid()}:conformance-lease"
    now = time.time()
    leased = [
        harness.db.insert_message("alice", "bob", f"leased {i}", claimed_by=claimer, claimed_at=now) for i in range(2)
    ]
    untouched = stays(lambda: not bob.channel_events, 1.5)
    rows = [harness.db.message(i) for i in leased]
    assert untouched, f"bob pushed mail under another drainer's live lease: {[e.content for e in bob.channel_events]}"
    assert all(r["claimed_by"] == claimer for r in rows), f"the lease was taken over: {[dict(r) for r in rows]}"
    harness.db.write("UPDATE messages SET claimed_by = NULL, claimed_at = NULL WHERE id IN (?, ?)", leased)
    events = wait_events(bob, 2, timeout=6)
    assert [msg_id(e) for e in events] == leased


@rule("DELIV-6")
@bus_tier_only(
    "one mailbox has one drainer per name (NAME-3), so two drainers of it meet only on a bus shared with "
    "another core; a test hook to start a second drainer for a live name would make DELIV-6 visible"
)
def test_a_live_lease_of_another_host_is_respected(harness: Harness) -> None:
    """DELIV-6: Two drainers of one mailbox never push the same message at the same time: a drainer
    claims rows with a lease (`claimed_by`, `claimed_at`, default 30 s) and a mailbox with a live lease
    held by another claimer is not claimed.

    The claimer names another host (a bus shared across hosts), with a pid that does not exist here:
    this host cannot tell whether it died, so its fresh lease must be respected (SCHEMA-5)."""
    bob = harness.start("bob", env=FAST_POLL)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    claimer = f"elsewhere.invalid:{dead.pid}:conformance-lease"
    leased = [
        harness.db.insert_message("alice", "bob", f"remote lease {i}", claimed_by=claimer, claimed_at=time.time())
        for i in range(2)
    ]
    untouched = stays(lambda: not bob.channel_events, 1.5)
    assert untouched, f"bob pushed mail leased by another host: {[e.content for e in bob.channel_events]}"
    assert all(harness.db.message(i)["claimed_by"] == claimer for i in leased), "the remote lease was taken over"
    harness.db.write("UPDATE messages SET claimed_by = NULL, claimed_at = NULL WHERE id IN (?, ?)", leased)
    events = wait_events(bob, 2, timeout=6)
    assert [msg_id(e) for e in events] == leased


@rule("DELIV-7")
def test_offline_mail_is_pushed_at_launch(harness: Harness) -> None:
    """DELIV-7: Pending mail is pushed as soon as the client is ready: at launch (after
    `notifications/initialized`) an adapter drains what waited while it was offline."""
    alice = harness.start("alice")
    for i in range(3):
        send(alice, "bob", f"while you were out {i}")
    bob = harness.start("bob", env={"AGENTBUS_SAFETY_POLL_SECONDS": "30"})
    events = wait_events(bob, 3, timeout=3)
    assert [e.content for e in events] == [f"while you were out {i}" for i in range(3)]
    early = [d for d in bob.dropped_events]
    assert not early, f"pushed before the client was ready: {[d.reason for d in early]}"


@rule("DELIV-8")
def test_concurrent_senders_lose_nothing_and_duplicate_nothing(harness: Harness) -> None:
    """DELIV-8: With several concurrent senders nothing is lost and nothing is pushed twice."""
    names = ["s1", "s2", "s3"]
    *senders, bob = harness.start_many([*names, "bob"], env=FAST_POLL)
    per_sender = 30
    errors: list[str] = []

    def blast(session: object, name: str) -> None:
        for i in range(per_sender):
            try:
                send(session, "bob", f"{name}/{i}")  # type: ignore[arg-type]
            except Exception as exc:
                errors.append(f"{name}/{i}: {exc}")

    threads = [threading.Thread(target=blast, args=(s, n)) for s, n in zip(senders, names, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, "\n".join(errors)
    total = per_sender * len(names)
    wait_until(lambda: len(bob.channel_events) >= total, 10, f"{total} pushes to bob")
    stays(lambda: len(bob.channel_events) == total, 0.5)
    contents = [e.content for e in bob.channel_events]
    ids = [msg_id(e) for e in bob.channel_events]
    assert len(ids) == len(set(ids)), f"pushed twice: {sorted(i for i in set(ids) if ids.count(i) > 1)}"
    assert sorted(contents) == sorted(f"{n}/{i}" for n in names for i in range(per_sender))
    for name in names:
        mine = [int(c.split("/")[1]) for c in contents if c.startswith(name + "/")]
        assert mine == sorted(mine), f"{name}'s messages out of order: {mine}"


@rule("DELIV-9")
def test_idle_recipient_is_woken_without_the_safety_poll(harness: Harness) -> None:
    """DELIV-9: No lost wakeups: a wake that arrives while a drain runs causes another pass, so a message
    is pushed without waiting for the safety poll (well under 1 s on an idle machine)."""
    alice, bob = harness.start_many(["alice", "bob"], env=SLOW_POLL)
    for i in range(3):
        sent_at = time.monotonic()
        send(alice, "bob", f"wake {i}")
        event = bob.wait_for_channel(timeout=5)
        assert event.received_at - sent_at < 1.0, f"push {i} took {event.received_at - sent_at:.2f}s"


@rule("DELIV-9")
@requires("shared_bus")
@requires("channel_door")  # a push stuck in a full stdout pipe
def test_wake_during_a_drain_causes_another_pass(harness: Harness) -> None:
    """DELIV-9: No lost wakeups: a wake that arrives while a drain runs causes another pass, so a message
    is pushed without waiting for the safety poll (well under 1 s on an idle machine).

    Judged by behaviour alone, on any adapter: bob's client stops reading and its 4 KiB pipe fills
    with big pushes, so bob's drain is blocked mid-way; alice then sends one more message. Once bob's
    client reads again, every message must arrive, the late one within 1 s of the previous ones (the
    safety poll is 30 s: only a wake that was not lost brings it so soon)."""
    alice = harness.start("alice", env=SLOW_POLL)
    bob = harness.raw("bob", env=SLOW_POLL, pipe_size=4096)
    for i in range(3):
        send(alice, "bob", f"{i}:" + "w" * 3000)
    # 9,000 bytes of pushes cannot fit a 4 KiB pipe: once its content stops changing, the drain is blocked.
    wait_until(lambda: bob.pipe_bytes() > 0, 8, "bob's first push")
    filled = bob.pipe_bytes()
    deadline = time.monotonic() + 8
    while not stays(functools.partial(_pipe_holds, bob, filled), 0.3) and time.monotonic() < deadline:
        filled = bob.pipe_bytes()
    assert 0 < filled < 9000, f"bob's pipe holds {filled} bytes: no drain is blocked on it"
    send(alice, "bob", "sent during the drain")
    late = None
    resumed = time.monotonic()
    while time.monotonic() - resumed < 8.0:
        bob.read_available()
        contents = [str(p.get("content", "")) for p in bob.channel_events]
        if "sent during the drain" in contents:
            late = time.monotonic()
            break
        time.sleep(0.01)
    early = [c for c in (str(p.get("content", "")) for p in bob.channel_events) if c.endswith("w" * 3000)]
    assert late is not None, f"the message sent during a drain never came (bob got {len(early)} of the 3 others)"
    assert len(early) == 3, f"bob got {len(early)} of the 3 messages sent before the late one"
    assert late - resumed < 1.0, f"the message sent during a drain took {late - resumed:.2f}s after bob read again"


@rule("DELIV-10")
@requires("pushes_on_wake")
def test_safety_poll_delivers_mail_no_trigger_announced(harness: Harness) -> None:
    """DELIV-10: A safety poll (every 3 s, `AGENTBUS_SAFETY_POLL_SECONDS`, `0` disables) backs the
    primary trigger.

    alice runs the poll trigger (TRIG-2), whose notify wakes nobody: her mail reaches a recipient on
    the default trigger only through its safety poll: within 1.5 s with a 0.5 s poll, within 4 s with
    the default, and not at all with the poll disabled (which shows the trigger really stayed silent)."""
    default = harness.start("slowpoll")
    fast = harness.start("fastpoll", env=FAST_POLL)
    never = harness.start("nopoll", env={"AGENTBUS_SAFETY_POLL_SECONDS": "0"})
    alice = harness.start("alice", env={"AGENTBUS_TRIGGER": "poll"})
    sent = time.monotonic()
    for name in ("slowpoll", "fastpoll", "nopoll"):
        send(alice, name, f"for {name}, announced to nobody")
    got_fast = fast.wait_for_channel(timeout=3)
    assert got_fast.received_at - sent < 1.5, f"0.5 s poll took {got_fast.received_at - sent:.2f}s"
    got_default = default.wait_for_channel(timeout=5)
    assert got_default.received_at - sent < 4.0, f"default poll took {got_default.received_at - sent:.2f}s"
    assert not never.channel_events, (
        "a recipient with no safety poll got mail from a sender on the poll trigger: the sender's "
        "AGENTBUS_TRIGGER=poll did not take effect (LIFE-2), so this check proves nothing"
    )


@rule("DELIV-10")
@requires("pushes_on_wake")
@requires("shared_bus")
def test_safety_poll_delivers_mail_the_trigger_missed(harness: Harness) -> None:
    """DELIV-10: A safety poll (every 3 s, `AGENTBUS_SAFETY_POLL_SECONDS`, `0` disables) backs the
    primary trigger.

    Mail is written straight into bus.db, as another core that cannot wake anyone would: a
    recipient with the default poll gets it within 3 s (+1 s), one with a 0.5 s poll within 1.5 s."""
    default = harness.start("slowpoll")
    fast_env = harness.start("fastpoll2", env=FAST_POLL)
    inserted = time.monotonic()
    one = harness.db.insert_message("ghost", "slowpoll", "missed by the trigger")
    two = harness.db.insert_message("ghost", "fastpoll2", "missed by the trigger too")
    got_fast = fast_env.wait_for_channel(timeout=3)
    assert msg_id(got_fast) == two
    assert got_fast.received_at - inserted < 1.5, f"0.5 s poll took {got_fast.received_at - inserted:.2f}s"
    got_default = default.wait_for_channel(timeout=5)
    assert msg_id(got_default) == one
    assert got_default.received_at - inserted < 4.0, f"default poll took {got_default.received_at - inserted:.2f}s"


@rule("DELIV-11")
def test_read_messages_pulls_pending_mail_and_stamps_it(harness: Harness) -> None:
    """DELIV-11 (capability `read_messages`): A pull tool `read_messages` returns pending messages
    rendered like channel events and stamps them delivered as it returns them (for sessions started
    without channels, whose pushes the client drops).

    Bob runs like a Claude Code started without channels (the stand-in's argv lacks the flag and
    fakeclaude drops pushes): his mail must reach him through read_messages, each message once."""
    alice = harness.start("alice")
    bob = harness.start("bob", channels=False, native=False)  # a Claude Code with no door for agentbus
    tools = {str(t.get("name")) for t in (bob.tools or bob.list_tools())}
    assert "read_messages" in tools, f"capability read_messages claimed but no such tool: {sorted(tools)}"
    bodies = ["pull one", "pull two </channel> <b>still inside</b>"]
    for body in bodies:
        send(alice, "bob", body)
    result = bob.call_tool("read_messages", {})
    assert not result.is_error, result.text
    tags = {}
    for attrs, content in re.findall(r"<channel ([^>]*)>(.*?)</channel>", result.text, re.S):
        meta = dict(re.findall(r'(\w+)="([^"]*)"', attrs))
        tags[meta.get("msg_id")] = (meta, content)
    ids = [int(key) for key in tags if key is not None and key.isdigit()]
    if harness.bus_readable:
        assert ids == [row["id"] for row in harness.db.to("bob")], f"read_messages returned {ids}"
    assert len(ids) == len(bodies), f"read_messages returned {len(ids)} of {len(bodies)} messages: {result.text!r}"
    for message_id, body in zip(ids, bodies, strict=True):
        assert str(message_id) in tags, f"message {message_id} not returned as a <channel> tag: {result.text!r}"
        meta, content = tags[str(message_id)]
        assert meta.get("source") == harness.manifest.server_name, meta
        assert meta.get("from") == "alice", meta
        if content.startswith("\n") and content.endswith("\n"):
            content = content[1:-1]  # Claude Code's own form puts the body on lines of its own
        assert content == re.sub(r"</(channel)", r"<\\/\1", body, flags=re.I), f"content rendered as {content!r}"
        if harness.bus_readable:
            assert harness.db.message(message_id)["delivered_at"] is not None, f"message {message_id} not stamped"
    again = bob.call_tool("read_messages", {})
    assert not any(f'msg_id="{i}"' in again.text for i in ids), f"returned twice: {again.text!r}"


@rule("DELIV-12")
def test_reply_to_is_carried_and_checked(harness: Harness) -> None:
    """DELIV-12 (capability `reply_to`): `send_message` accepts `reply_to` (an id of a message sent to
    or by the caller); the push carries it in `meta.reply_to`. An unknown id is refused.

    A message between two other sessions (carol to dave) is foreign to bob: its id is refused too."""
    alice, bob, carol, dave = harness.start_many(["alice", "bob", "carol", "dave"])
    send(alice, "bob", "question")
    question = bob.wait_for_channel(timeout=5)
    original = msg_id(question)
    send(bob, "alice", "answer", reply_to=reply_to_argument(bob, original))
    answer = alice.wait_for_channel(timeout=5)
    assert answer.meta.get("reply_to") == str(original), f"meta.reply_to: {answer.meta}"
    if harness.bus_readable:
        assert harness.db.message(msg_id(answer))["reply_to"] == original
    assert_refused(
        bob, "send_message", {"to": "alice", "text": "x", "reply_to": reply_to_argument(bob, 999999)}, "unknown id"
    )
    send(carol, "dave", "not yours")
    foreign = msg_id(dave.wait_for_channel(timeout=5))
    assert_refused(
        bob, "send_message", {"to": "alice", "text": "x", "reply_to": reply_to_argument(bob, foreign)}, "foreign id"
    )


def _unchanged(state: Callable[[], tuple[int, int, int, int]], seen: tuple[int, int, int, int]) -> bool:
    return state() == seen


def _pipe_holds(client: RawClient, size: int) -> bool:
    return client.pipe_bytes() == size
