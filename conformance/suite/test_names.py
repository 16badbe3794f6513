"""SPEC section 2: names (the rule, sanitising AGENTBUS_NAME, collisions at start, renaming)."""

import os
import re
import subprocess
import sys
import time

from conformance.busfile import HOST
from conformance.checks import assert_refused, kill_adapter, mentions, msg_id, wait_events, whoami_name
from conformance.harness import Harness
from conformance.marks import requires, rule

INVALID_NAMES = ["Alice", "a b", "x" * 33, "", "*", "bob!", "caf\u00e9", "a/b", "-\n-"]


@rule("NAME-1")
def test_invalid_names_are_refused_with_the_rule(harness: Harness) -> None:
    """NAME-1: A name matches `[a-z0-9_-]{1,32}`. Anything else is refused with an error that states the
    rule. `*` is reserved for broadcast and is never a peer name."""
    alice = harness.start("alice")
    for name in INVALID_NAMES:
        for tool, args in (("send_message", {"to": name, "text": "hi"}), ("set_name", {"name": name})):
            if tool == "send_message" and name == "*":
                continue  # '*' addresses everyone through broadcast (MBOX-2)
            found = assert_refused(alice, tool, args, f"name {name!r}")
            assert "32" in found.text, f"{tool} {name!r}: error does not state the rule: {found.text!r}"
            assert "a-z" in found.text, f"{tool} {name!r}: error does not state the rule: {found.text!r}"
    who = alice.call_tool("whoami")
    assert not who.is_error, f"a refused set_name changed the name: {who.text!r}"
    assert mentions(who.text, "alice"), f"a refused set_name changed the name: {who.text!r}"
    if harness.bus_readable:
        assert not harness.db.messages(), "a message to an invalid name reached the bus"
        assert harness.db.peer_names() == {"alice"}


@rule("NAME-2")
def test_agentbus_name_is_sanitised(harness: Harness) -> None:
    """NAME-2: An adapter takes its name from `AGENTBUS_NAME`, sanitised: lower-cased, every run of other
    characters replaced by `-`, trimmed of `-`, cut to 32 characters. An empty result becomes a generated
    `agent-xxxx` (4 hex digits)."""
    raw = {"  Front End!!": "front-end", "y" * 40: "y" * 32}
    sessions = harness.start_many(list(raw))
    for (given, wanted), session in zip(raw.items(), sessions, strict=True):
        assert whoami_name(session, [wanted]), f"AGENTBUS_NAME={given!r}: whoami does not say {wanted!r}"
        if harness.bus_readable:
            row = harness.peer_row(session)
            assert row["name"] == wanted, f"AGENTBUS_NAME={given!r} registered as {row['name']!r}, wanted {wanted!r}"
    session = harness.start("!!!")
    text = session.call_tool("whoami", {}).text
    generated = re.findall(r"(?<![a-z0-9_-])agent-[0-9a-f]{4}(?![a-z0-9_-])", text)
    assert generated, f"AGENTBUS_NAME='!!!': whoami names no agent-xxxx: {text!r}"
    if harness.bus_readable:
        assert harness.peer_row(session)["name"] == generated[0]
    listing = sessions[0].call_tool("list_peers", {}).text
    assert mentions(listing, generated[0]), f"{generated[0]} is not listed for the others: {listing!r}"


@rule("NAME-3")
def test_name_collision_gets_a_suffix_and_whoami_says_so(harness: Harness) -> None:
    """NAME-3: Collision policy at start: an adapter never takes a name a live peer holds. If the requested
    name is held, it registers `name-2`, `name-3`, ... (the first free one) and says so in `whoami`.

    Three sessions ask for alice, one after the other: alice, alice-2, alice-3."""
    first = harness.start("alice")
    second = harness.start("alice")
    third = harness.start("alice")
    names = [whoami_name(s, ["alice-3", "alice-2", "alice"]) for s in (first, second, third)]
    assert names == ["alice", "alice-2", "alice-3"], f"whoami says {names}"
    text = third.call_tool("whoami", {}).text
    assert mentions(text, "alice"), f"whoami does not report the name asked for: {text!r}"
    if harness.bus_readable:
        assert [harness.peer_row(s)["name"] for s in (first, second, third)] == ["alice", "alice-2", "alice-3"]


@rule("NAME-3")
@requires("shared_bus")
def test_a_name_held_by_a_live_process_of_another_core_is_skipped(harness: Harness) -> None:
    """NAME-3: ... it registers `name-2`, `name-3`, ... (the first free one) and says so in `whoami`.

    alice is held by a session and alice-2 by a live process of the kit: the next alice is alice-3."""
    first = harness.start("alice")
    harness.db.insert_peer("alice-2", pid=os.getpid())
    second = harness.start("alice")
    names = [harness.peer_row(s)["name"] for s in (first, second)]
    assert names == ["alice", "alice-3"], f"registered as {names} (alice-2 is held by a live process)"


@rule("NAME-3")
def test_name_of_a_dead_peer_is_taken_over(harness: Harness) -> None:
    """NAME-3: ... A name held only by a stale or dead peer is taken over.

    carol's adapter is killed (no unregistering): the next carol gets the name."""
    carol = harness.start("carol")
    kill_adapter(carol)
    again = harness.start("carol")
    assert whoami_name(again, ["carol-2", "carol"]) == "carol", "a dead peer's name was not taken over"


@rule("NAME-3")
@requires("shared_bus")
def test_name_of_a_stale_or_dead_peer_is_taken_over(harness: Harness) -> None:
    """NAME-3: ... A name held only by a stale or dead peer is taken over.

    Rows written by the kit: a dead pid of this host, and another host's row not seen for an hour."""
    harness.start("setup").close()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    harness.db.insert_peer("carol", pid=dead.pid, host=HOST)
    harness.db.insert_peer("dave", pid=1, host="elsewhere.invalid", last_seen=time.time() - 3600)
    carol, dave = harness.start_many(["carol", "dave"])
    assert harness.peer_row(carol)["name"] == "carol", "a dead peer's name was not taken over"
    assert harness.peer_row(dave)["name"] == "dave", "a stale peer's name was not taken over"


@rule("NAME-4")
def test_set_name_to_a_held_name_is_refused(harness: Harness) -> None:
    """NAME-4: `set_name` to a name a live peer holds is refused (`name taken`); renaming is atomic and
    the peer's pending mail follows it to the new name."""
    alice, bob = harness.start_many(["alice", "bob"])
    found = assert_refused(alice, "set_name", {"name": "bob"}, "rename to a live peer's name")
    assert re.search(r"taken|held|in use", found.text, re.I), f"refusal does not say the name is taken: {found.text!r}"
    assert whoami_name(alice, ["alice"]), "the refused rename changed alice's name"
    assert whoami_name(bob, ["bob"]), "the refused rename changed bob's name"
    if harness.bus_readable:
        assert harness.peer_row(alice)["name"] == "alice"
        assert harness.peer_row(bob)["name"] == "bob"


@rule("NAME-4")
@requires("shared_bus")
def test_pending_mail_follows_a_rename(harness: Harness) -> None:
    """NAME-4: ... renaming is atomic and the peer's pending mail follows it to the new name.

    Bob's mail is held pending by a live lease of the kit; after bob renames to robert it must reach
    him (as robert)."""
    bob = harness.start("bob", env={"AGENTBUS_SAFETY_POLL_SECONDS": "0.5"})
    claimer = f"{HOST}:{os.getpid()}:conformance-lease"
    ids = [
        harness.db.insert_message("alice", "bob", f"held {i}", claimed_by=claimer, claimed_at=time.time())
        for i in range(2)
    ]
    result = bob.call_tool("set_name", {"name": "robert"})
    assert not result.is_error, result.text
    events = wait_events(bob, 2, timeout=6)
    assert [msg_id(e) for e in events] == ids
    assert {r["recipient"] for r in map(harness.db.message, ids)} == {"robert"}
    assert harness.peer_row(bob)["name"] == "robert"
