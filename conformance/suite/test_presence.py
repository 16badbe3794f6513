"""SPEC section 4: presence (registration, heartbeat, liveness and reaping, unregistering, list_peers)."""

import re
import subprocess
import sys
import time

from conformance.checks import kill_adapter, listed_names, lists, mentions, send, terminate_adapter
from conformance.harness import Harness
from conformance.marks import bus_tier_only, requires, rule
from fakeclaude.waiting import wait_until


@rule("PRES-1")
def test_registered_before_the_first_answer(harness: Harness) -> None:
    """PRES-1: An adapter registers its name when it starts, before it answers the client's first
    request.

    Right after bob's initialize result arrives, alice's list_peers must name bob (and on the bus
    tier, the row must be there)."""
    alice = harness.start("alice")
    harness.raw("bob", pipe_size=None, list_tools=False)
    if harness.bus_readable:
        names = harness.db.peer_names() if harness.db.exists() else set()
        assert "bob" in names, f"initialize was answered before bob was registered (peers: {sorted(names)})"
    listing = alice.call_tool("list_peers", {}).text
    assert mentions(listing, "bob"), f"initialize was answered before bob was registered: {listing!r}"


@rule("PRES-2")
def test_heartbeat_refreshes_last_seen(harness: Harness) -> None:
    """PRES-2: A registered adapter refreshes `last_seen` at least every 15 s.

    With AGENTBUS_HEARTBEAT_SECONDS=0.3 and a liveness window of 1.5 s (AGENTBUS_STALE_SECONDS, LIFE-2),
    bob stays listed for alice 4 s on only if its heartbeat keeps it fresh; on the bus tier the kit
    also watches last_seen advance twice."""
    env = {"AGENTBUS_HEARTBEAT_SECONDS": "0.3", "AGENTBUS_STALE_SECONDS": "1.5"}
    alice, bob = harness.start_many(["alice", "bob"], env=env)
    if harness.bus_readable:
        seen = [harness.peer_row(bob)["last_seen"]]
        for _ in range(2):
            wait_until(
                lambda: (harness.db.peer("bob") or {"last_seen": 0})["last_seen"] > seen[-1], 3, "last_seen to advance"
            )
            seen.append(harness.db.peer("bob")["last_seen"])  # type: ignore[index]
        assert seen == sorted(seen)
        assert seen[-1] <= time.time() + 1
    stop = time.monotonic() + 4.0
    while time.monotonic() < stop:
        listing = alice.call_tool("list_peers", {}).text
        assert mentions(listing, "bob"), f"bob fell out of the 1.5 s liveness window: no heartbeat ({listing!r})"
        time.sleep(0.25)  # sampling a state over a period: the test is that nothing happens


@rule("PRES-3")
def test_killed_peer_leaves_the_list_at_once(harness: Harness) -> None:
    """PRES-3: A peer is live when seen within 45 s, and, when its row names this host, its process
    exists. A peer whose process is gone on this host is offline at once. Queries reap non-live rows."""
    alice, bob = harness.start_many(["alice", "bob"])
    assert listed_names(alice.call_tool("list_peers", {}), ["alice", "bob"]) == {"alice", "bob"}
    kill_adapter(bob)
    listing = alice.call_tool("list_peers", {})
    assert not mentions(listing.text, "bob"), f"a killed peer is still listed: {listing.text!r}"
    if harness.bus_readable:
        assert "bob" not in harness.db.peer_names(), "the dead peer's row was not reaped by the query"


@rule("PRES-3")
@requires("shared_bus")
def test_liveness_window_is_45_seconds_for_other_hosts(harness: Harness) -> None:
    """PRES-3: A peer is live when seen within 45 s, and, when its row names this host, its process
    exists. ... Queries reap non-live rows.

    Rows of another host are judged by last_seen only: seen 30 s ago is live, 60 s ago is not."""
    alice = harness.start("alice")
    now = time.time()
    harness.db.insert_peer("recent", pid=1, host="elsewhere.invalid", last_seen=now - 30)
    harness.db.insert_peer("ghost", pid=1, host="elsewhere.invalid", last_seen=now - 60)
    listing = alice.call_tool("list_peers", {})
    assert mentions(listing.text, "recent"), f"a peer seen 30 s ago is not listed: {listing.text!r}"
    assert not mentions(listing.text, "ghost"), f"a peer seen 60 s ago is listed: {listing.text!r}"
    assert "ghost" not in harness.db.peer_names(), "the stale row was not reaped"


@rule("PRES-3")
@requires("shared_bus")
def test_pid_of_another_host_is_not_checked_here(harness: Harness) -> None:
    """PRES-3: A peer is live when seen within 45 s, and, when its row names this host, its process
    exists. ...

    A bus shared across hosts (PostgreSQL) holds rows of processes this host cannot see: a recent row
    of another host whose pid does not exist here is live (listed, not reaped, mail to it not queued
    as offline), while the same pid on this host is offline at once."""
    alice = harness.start("alice")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    harness.db.insert_peer("remote", pid=dead.pid, host="elsewhere.invalid")
    harness.db.insert_peer("local-ghost", pid=dead.pid)
    listing = alice.call_tool("list_peers", {})
    assert mentions(listing.text, "remote"), f"a live peer of another host is not listed: {listing.text!r}"
    assert not mentions(listing.text, "local-ghost"), f"a dead peer of this host is listed: {listing.text!r}"
    assert "remote" in harness.db.peer_names(), "the other host's row was reaped on a local pid check"
    result = send(alice, "remote", "across hosts")
    assert not re.search(r"queued|offline|not online", result.text, re.I), (
        f"a send to a live peer of another host was treated as offline: {result.text!r}"
    )


@rule("PRES-4")
def test_reaping_keeps_the_mail(harness: Harness) -> None:
    """PRES-4: Reaping a peer never deletes its mail: pending messages wait for the name.

    bob's adapter is killed (its row is reaped at alice's next query, PRES-3); alice's mail to bob
    waits, and a new bob gets every message."""
    alice, bob = harness.start_many(["alice", "bob"])
    kill_adapter(bob)
    send(alice, "bob", "for bob 1")
    assert not lists(alice, "bob"), "a killed peer is still listed"
    send(alice, "bob", "for bob 2")
    if harness.bus_readable:
        assert "bob" not in harness.db.peer_names()
        assert len(harness.db.pending("bob")) == 2, "reaping the peer lost its mail"
    again = harness.start("bob")
    again.assert_channel("for bob 1", within=5)
    again.assert_channel("for bob 2", within=5)


@rule("PRES-4")
@requires("shared_bus")
def test_reaping_a_stale_row_keeps_the_mail(harness: Harness) -> None:
    """PRES-4: Reaping a peer never deletes its mail: pending messages wait for the name.

    The same for a stale row of another host (written by the kit)."""
    alice = harness.start("alice")
    harness.db.insert_peer("ghost", pid=1, host="elsewhere.invalid", last_seen=time.time() - 3600)
    send(alice, "ghost", "for the ghost 1")
    alice.call_tool("list_peers", {})
    send(alice, "ghost", "for the ghost 2")
    assert "ghost" not in harness.db.peer_names()
    assert len(harness.db.pending("ghost")) == 2, "reaping the peer lost its mail"
    ghost = harness.start("ghost")
    ghost.assert_channel("for the ghost 1", within=5)
    ghost.assert_channel("for the ghost 2", within=5)


@rule("PRES-5")
@bus_tier_only(
    "a peer that exits without unregistering is offline at once for every session of its host "
    "(PRES-3's process check), so only the peers table shows the difference"
)
def test_unregisters_on_stdin_eof(harness: Harness) -> None:
    """PRES-5: An adapter unregisters when it exits normally (stdin EOF, SIGTERM)."""
    bob = harness.start("bob")
    harness.peer_row(bob)
    bob.close(timeout=3)
    assert "bob" not in harness.db.peer_names(), "bob's row is left behind after stdin EOF"


@rule("PRES-5")
@bus_tier_only(
    "a peer that exits without unregistering is offline at once for every session of its host "
    "(PRES-3's process check), so only the peers table shows the difference"
)
def test_unregisters_on_sigterm(harness: Harness) -> None:
    """PRES-5: An adapter unregisters when it exits normally (stdin EOF, SIGTERM)."""
    bob = harness.start("bob")
    harness.peer_row(bob)
    terminate_adapter(bob)
    wait_until(lambda: "bob" not in harness.db.peer_names(), 3, "bob's row to go after SIGTERM")


@rule("PRES-6")
def test_list_peers_tells_push_or_pull_and_marks_the_caller(harness: Harness) -> None:
    """PRES-6: `list_peers` tells for each peer whether it receives by push or only by pull (`can_push`),
    and marks the caller.

    carol is a session whose client offers no door (a Claude Code without the flag and without the
    messaging socket). Each peer's line is judged by what it says besides the name."""
    alice, bob = harness.start_many(["alice", "bob"])
    harness.start("carol", channels=False, native=False)
    send(alice, "bob", "so bob has pushed once")
    bob.wait_for_channel(timeout=5)
    text = alice.call_tool("list_peers", {}).text
    lines = {name: [ln for ln in text.splitlines() if mentions(ln, name)] for name in ("alice", "bob", "carol")}
    assert all(len(v) == 1 for v in lines.values()), f"expected one line per peer: {text!r}"
    said = {name: found[0].lower().replace(name, "", 1) for name, found in lines.items()}
    assert "push" in said["bob"], lines["bob"]
    assert "pull" not in said["bob"], lines["bob"]
    assert "pull" in said["carol"], f"pull-only peer not marked: {lines['carol']}"
    assert "you" in said["alice"], f"the caller is not marked: {lines['alice']}"
