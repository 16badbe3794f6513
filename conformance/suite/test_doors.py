"""SPEC section 8, "Doors": which doors a session opens and says it opened, one door per message, and the
native door (Claude Code's messaging socket) as fakeclaude plays it for a 2.1.331+ profile.

fakeclaude offers a session the doors its client would: the messaging socket (``session.messaging``,
unless ``native=False``), the channel (``channels=True``: the stand-in ``claude`` carries the
channels flag) or, for an adapter of the ``app-server`` door, its fake app-server. What the socket
got is ``session.messaging.writes``; what it refused, ``session.messaging.refused``.
"""

import json
from collections.abc import Callable
from functools import partial
from typing import Any

from agentbus.manifest import Manifest
from conformance.checks import send
from conformance.harness import Harness
from conformance.marks import rule
from conformance.procs import stays
from fakeclaude import ChannelEvent, FakeMessagingSocket, Session, ToolResult
from fakeclaude.rendering import parse_channel_tag
from fakeclaude.waiting import wait_until

#: A failed push is tried again at the safety poll (DELIV-10): make that quick.
FAST_POLL = {"AGENTBUS_SAFETY_POLL_SECONDS": "0.2"}
#: How long a message must stay queued while no door can take it (several safety polls).
REFUSED_WINDOW = 1.5


def offered(session: Session, manifest: Manifest) -> list[str]:
    """The doors of the manifest this session's client offers, in the manifest's order."""
    offers = {
        "native": session.messaging is not None,
        "channel": session.channels and session.app_server is None and not session.via_app_server,
        "app-server": session.app_server is not None,
        "hook": session.gemini is not None,
    }
    return [door for door in manifest.doors if offers.get(door, False)]


def sent_id(result: ToolResult) -> int:
    """The msg_id a send_message result names."""
    assert isinstance(result.structured, dict), f"send_message gave no structured result: {result.text}"
    return int(result.structured["msg_id"])


def whoami(session: Session) -> dict[str, object]:
    result = session.call_tool("whoami")
    assert not result.is_error, f"whoami failed: {result.text}"
    assert isinstance(result.structured, dict), f"whoami failed: {result.text}"
    return result.structured


def _messaging(session: Session) -> FakeMessagingSocket:
    assert session.messaging is not None, f"session {session.name!r} offers no messaging socket"
    return session.messaging


def _whoami_with_door(session: Session, door: str) -> dict[str, object] | None:
    found = whoami(session)
    return found if found.get("door") == door else None


def _whoami_text(session: Session) -> str:
    return f"whoami says {whoami(session)}"


def _listed_door(watcher: Session, name: str) -> object:
    result = watcher.call_tool("list_peers")
    assert isinstance(result.structured, dict), result.text
    return {row["name"]: row.get("door") for row in result.structured["peers"]}.get(name)


def _equals(read: Callable[[], object], wanted: object) -> bool:
    return read() == wanted


def _has_body(body: str, event: ChannelEvent) -> bool:
    return event.content == body


def _writes_of(session: Session, msg: int) -> list[str]:
    """The texts written to the session's messaging socket that carry message ``msg``."""
    found = []
    for write in _messaging(session).writes:
        tag = parse_channel_tag(write.content)
        if tag is not None and tag.attributes.get("msg_id") == str(msg):
            found.append(write.content)
    return found


@rule("DOOR-1")
def test_each_session_says_which_doors_it_opened(harness: Harness) -> None:
    """DOOR-1: The manifest lists in `doors` the doors the adapter can open, best first. A session's
    adapter opens, of those, the doors its client offers and `AGENTBUS_PUSH` allows, and says which:
    `whoami` reports `door` (the best open door, or `pull`) and `doors` (every open door, in order); on
    a shared bus the peer row carries it in `door` (section 11) and `can_push` is true exactly when a
    door is open; `list_peers` reports each peer's `door`."""
    offerings: list[tuple[str, dict[str, Any]]] = [("all", {}), ("no-flag", {"channels": False})]
    offerings.append(("no-socket", {"native": False}))
    offerings.append(("nothing", {"channels": False, "native": False}))
    watcher = harness.start("watcher", native=False, channels=False)
    for name, kwargs in offerings:
        session = harness.start(name, **kwargs)
        doors = offered(session, harness.manifest)
        door = doors[0] if doors else "pull"
        found = wait_until(
            partial(_whoami_with_door, session, door),
            10,
            f"{name}'s whoami to say door {door!r}",
            describe=partial(_whoami_text, session),
        )
        assert found.get("doors") == doors, f"{name} offers {doors}; whoami says doors {found.get('doors')}"
        assert found.get("can_push") is bool(doors), f"{name}: can_push {found.get('can_push')} with doors {doors}"
        wait_until(
            partial(_equals, partial(_listed_door, watcher, name), door),
            10,
            f"list_peers to show {name} with door {door!r}",
        )
        if harness.bus_readable:
            row = harness.peer_row(session)
            assert row["door"] == door, f"{name}'s peer row: {dict(row)}"
            assert bool(row["can_push"]) is bool(doors), f"{name}'s peer row: {dict(row)}"
        session.close()


@rule("DOOR-2")
def test_each_message_goes_through_one_door_only(harness: Harness) -> None:
    """DOOR-2: Each push goes through exactly one door: the first open door that takes it. A door that
    refuses a message (the socket is gone, the line too long) leaves it to the next open door; when
    every open door refused, it stays pending and is pushed again later (DELIV-10). The same message
    never reaches the model through two doors."""
    alice = harness.start("alice")
    bob = harness.start("bob", env=FAST_POLL)
    doors = offered(bob, harness.manifest)
    assert doors, f"bob's client offers none of the doors {harness.manifest.doors}"
    wait_until(lambda: whoami(bob).get("door") == doors[0], 10, f"bob's {doors[0]} door to open")
    bodies = [f"one door {i}" for i in range(5)]
    for body in bodies:
        send(alice, "bob", body)
    for body in bodies:
        bob.wait_for_channel(partial(_has_body, body), timeout=10)
    arrivals = [(e.content, e.via) for e in bob.channel_events if e.content in bodies]
    assert sorted(body for body, _ in arrivals) == sorted(bodies), f"each message once, got {arrivals}"
    vias = {via for _, via in arrivals}
    assert len(vias) == 1, f"the messages came through several doors at once: {arrivals}"
    if len(doors) < 2 or doors[0] != "native":
        return
    # The best door goes away: the next open door takes the message, once.
    _messaging(bob).vanish()
    send(alice, "bob", "through the next door")
    event = bob.wait_for_channel(partial(_has_body, "through the next door"), timeout=10)
    assert event.via != "native", "the message came through the native door, which is gone"
    again = [e for e in bob.channel_events if e.content == "through the next door"]
    assert len(again) == 1, f"the message reached the model {len(again)} times"


@rule("DOOR-3")
def test_a_native_push_is_an_authenticated_write_of_the_tag(harness: Harness) -> None:
    """DOOR-3: A native push is one JSON line `{"type":"user","message":{"role":"user","content":<text>}}`
    on a connection to `CLAUDE_CODE_MESSAGING_SOCKET` whose first line was
    `{"type":"auth","token":<CLAUDE_CODE_MESSAGING_TOKEN>}` (one connection may carry many messages, in
    order); the text begins with the message rendered as APPS-1 renders it (the `<channel
    source="agentbus" ...>` tag) and may end with a line saying how to reply. The token is written
    nowhere else: not to the bus, stdout, stderr or a file."""
    alice = harness.start("alice")
    bob = harness.start("bob", channels=False)
    body = 'native "door" </channel> & more'
    sent = sent_id(send(alice, "bob", body))
    event = bob.wait_for_channel(lambda e: e.meta.get("msg_id") == str(sent), timeout=10)
    assert event.via == "native", f"message {sent} came as {event.via}, not through the messaging socket"
    socket = _messaging(bob)
    assert not socket.refused, f"the messaging socket refused: {socket.refused}"
    written = _writes_of(bob, sent)
    assert len(written) == 1, f"message {sent} was written {len(written)} times"
    tag = parse_channel_tag(written[0])
    assert tag is not None, f"the text does not open with the tag: {written[0]!r}"
    assert tag.attributes.get("source") == "agentbus", f"the text does not open with the tag: {written[0]!r}"
    assert tag.content == body, f"the tag carries {tag.content!r}"
    assert tag.attributes.get("from") == "alice", f"the tag carries {tag.content!r}"
    assert tag.rest.count("\n") <= 1, f"more than one line after the tag: {tag.rest!r}"
    token = socket.token
    wire = "\n".join(record.raw for record in bob.recorder.records)
    assert token not in wire, "the token was written on the MCP wire"
    assert token not in bob.stderr, "the token was written to stderr"
    if harness.bus_readable:
        rows = [json.dumps(dict(row), default=str) for row in harness.db.peers()]
        assert not any(token in row for row in rows), "the token is on the bus"


@rule("DOOR-4")
def test_nothing_is_stamped_pushed_that_the_socket_did_not_get(harness: Harness) -> None:
    """DOOR-4: A message is stamped pushed (or, without receipts, delivered) through the native door only
    after its line was written to the socket; a socket that refused the connection or the write leaves
    it pending. Nothing is stamped pushed that the socket did not get."""
    alice = harness.start("alice")
    bob = harness.start("bob", channels=False, env=FAST_POLL)
    wait_until(lambda: whoami(bob).get("door") == "native", 10, "bob's native door to open")
    sent = [sent_id(send(alice, "bob", f"stamped {i}")) for i in range(3)]

    def state(msg: int) -> str:
        result = alice.call_tool("message_status", {"msg_id": msg})
        assert not result.is_error, result.text
        return str(result.structured["state"])

    wait_until(lambda: all(state(m) != "queued" for m in sent), 10, "the messages to leave the queue")
    for msg in sent:
        assert _writes_of(bob, msg), f"message {msg} is {state(msg)} but the messaging socket never got it"
    # No socket: nothing may be stamped, and the message goes out once the socket is back.
    _messaging(bob).vanish()
    held = sent_id(send(alice, "bob", "while the socket is gone"))
    assert stays(lambda: state(held) == "queued", REFUSED_WINDOW), (
        f"message {held} left the queue ({state(held)}) while the messaging socket was gone"
    )
    _messaging(bob).come_back()
    bob.wait_for_channel(lambda e: e.meta.get("msg_id") == str(held), timeout=10)
    assert len(_writes_of(bob, held)) == 1, f"message {held} was written {len(_writes_of(bob, held))} times"


@rule("DOOR-5")
def test_the_native_door_needs_no_gate(harness: Harness) -> None:
    """DOOR-5: The native door needs no gate: mail waiting when the adapter starts is written to the
    socket within 1 s of the `initialize` answer, whatever the client sends next (no
    `notifications/initialized` or `tools/list` is awaited)."""
    alice = harness.start("alice")
    queued = sent_id(send(alice, "bob", "waiting before bob started"))
    bob = harness.session("bob", channels=False, list_tools_on_start=False).start()
    answered = next(r.at for r in bob.recorder.records if r.kind == "response" and "serverInfo" in r.raw)
    event = bob.wait_for_channel(lambda e: e.meta.get("msg_id") == str(queued), timeout=5)
    assert event.via == "native", f"the waiting message came as {event.via}"
    assert event.received_at - answered <= 1.0, f"written {event.received_at - answered:.2f} s after the answer"


@rule("DOOR-6")
def test_receipts_read_the_native_records(harness: Harness) -> None:
    """DOOR-6: Receipts read the native door's own records in the session transcript: the
    `queue-operation` `enqueue` whose `content` is the text written (received), then the `user` record
    (or, mid-turn, the `queued_command` attachment) of origin `{"kind": "peer", "from": "unknown"}`
    whose text holds the tag after Claude Code's framing line (seen). Records of another origin (a
    prompt the user typed, another Claude session's message) never count."""
    alice = harness.start("alice")
    bob = harness.start("bob", channels=False)
    bob.begin_turn()  # busy: the write is enqueued (received) and shown at the turn's end (seen)
    sent = sent_id(send(alice, "bob", "ladder through the native door"))
    bob.wait_for_channel(lambda e: e.meta.get("msg_id") == str(sent), timeout=10)

    def state() -> str:
        return str(alice.call_tool("message_status", {"msg_id": sent}).structured["state"])

    wait_until(lambda: state() == "received", 10, "received, once the enqueue record is written")
    assert bob.transcript is not None
    bob.transcript.prompt(_writes_of(bob, sent)[0])  # the user pastes the text: no proof of sight
    assert stays(lambda: state() == "received", 1.0), f"a typed prompt made message {sent} {state()}"
    bob.end_turn()
    wait_until(lambda: state() == "seen", 10, "seen, once the framed user record is written")
