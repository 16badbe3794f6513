"""SPEC section 7: triggers seen from outside (wake files of the file-watch trigger, AGENTBUS_TRIGGER)."""

import contextlib

from conformance.checks import send
from conformance.harness import Harness
from conformance.marks import requires, rule
from fakeclaude.waiting import wait_until

SLOW_POLL = {"AGENTBUS_SAFETY_POLL_SECONDS": "30"}


@rule("TRIG-1")
@requires("file_watch_trigger")
@requires("shared_bus")
def test_wake_file_per_peer_wakes_the_recipient(harness: Harness) -> None:
    """TRIG-1: The file-watch trigger (default) keeps one wake file per peer at
    `AGENTBUS_HOME/wake/<name>`; `notify` writes it, `arm` watches it. A write of the file by any
    process, closed after writing, is a wake.

    A sender's notify writes wake/bob; another core that enqueues straight into bus.db and writes
    wake/bob wakes bob without the safety poll (30 s here). On a PostgreSQL bus, whose default
    trigger is pg-notify, the sessions select the file-watch trigger with AGENTBUS_TRIGGER."""
    env = {**SLOW_POLL, "AGENTBUS_TRIGGER": "file-watch"} if harness.on_postgres else SLOW_POLL
    alice, bob = harness.start_many(["alice", "bob"], env=env)
    send(alice, "bob", "first")
    bob.assert_channel("first", within=3)
    wake = harness.bus_home / "wake" / "bob"
    assert wake.is_file(), f"no wake file {wake} after a send to bob"
    harness.db.insert_message("ghost", "bob", "woken by the wake file")
    wake.write_text("wake\n")
    bob.assert_channel("woken by the wake file", within=2)


@rule("TRIG-2")
def test_poll_trigger_delivers(harness: Harness) -> None:
    """TRIG-2: `AGENTBUS_TRIGGER=poll` selects the poll trigger; an unknown value is an error naming the
    choices."""
    env = {"AGENTBUS_TRIGGER": "poll"}
    alice, bob = harness.start_many(["alice", "bob"], env=env)
    send(alice, "bob", "by polling")
    bob.assert_channel("by polling", within=5, from_="alice")


@rule("TRIG-2")
def test_unknown_trigger_is_an_error_naming_the_choices(harness: Harness) -> None:
    """TRIG-2: `AGENTBUS_TRIGGER=poll` selects the poll trigger; an unknown value is an error naming the
    choices."""
    session = harness.session("bob", env={"AGENTBUS_TRIGGER": "carrier-pigeon"})
    with contextlib.suppress(Exception):
        session.start(8)
    code = wait_until(lambda: session.returncode is not None or None, 5, "the adapter to exit")
    assert code is not None
    assert session.returncode not in (0, None), f"exit code {session.returncode} for an unknown trigger"
    stderr = session.stderr
    assert "poll" in stderr, f"stderr does not name the choices: {stderr[-500:]!r}"
    assert "file-watch" in stderr, f"stderr does not name the choices: {stderr[-500:]!r}"
