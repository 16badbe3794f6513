"""LIMIT-4 through the adapter: a per-sender rate limit stops reply loops with a clear tool error.

The limit is enforced by the sending adapter with its own AGENTBUS_RATE_LIMIT_PER_MINUTE (a guard
against runaway agents, not against a hostile local process that sets the variable itself).
"""

from collections.abc import Iterator

import pytest
from helpers.waiting import wait_until

from agentbus.core import Bus, Settings
from fakeclaude import Sandbox, Session

LIMIT = 6


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path_factory.mktemp("ratelimit"))
    Bus.open(Settings(home=box.bus_home)).close()  # created here: the adapters only open it
    try:
        yield box
    finally:
        box.close_all()


@pytest.fixture(scope="module")
def peers(sandbox: Sandbox) -> tuple[Session, Session, Session, Session]:
    """alice and bob loop at each other, carol watches, dave broadcasts: each sender used by one test."""
    env = {"AGENTBUS_RATE_LIMIT_PER_MINUTE": str(LIMIT)}
    alice, bob, carol, dave = sandbox.start_sessions("alice", "bob", "carol", "dave", env=env)
    return alice, bob, carol, dave


def stored(sandbox: Sandbox, sender: str) -> int:
    with Bus.open(Settings(home=sandbox.bus_home)) as bus:
        return len(bus.history(sender, limit=10_000))


def test_a_reply_loop_is_stopped_by_the_limit(peers: tuple[Session, ...], sandbox: Sandbox) -> None:
    alice, bob, carol, _ = peers
    # Two polite agents that answer every message: each reply triggers the other's reply.
    speaker, listener, turns, stopped_by = alice, bob, 0, None
    first = speaker.call_tool("send_message", {"to": listener.name, "text": "thanks!"})
    assert not first.is_error
    while turns < 4 * LIMIT:
        event = listener.wait_for_channel(timeout=5)
        speaker, listener = listener, speaker
        reply = speaker.call_tool(
            "send_message", {"to": event.meta["from"], "text": "thanks!", "reply_to": int(event.meta["msg_id"])}
        )
        turns += 1
        if reply.is_error:
            stopped_by = (speaker.name, reply.text)
            break
    assert stopped_by is not None, f"{turns} replies and no limit"
    name, text = stopped_by
    assert f"the limit is {LIMIT}" in text, text
    assert "AGENTBUS_RATE_LIMIT_PER_MINUTE" in text, text
    assert "loop" in text, text
    assert turns <= 2 * LIMIT
    assert stored(sandbox, name) <= 2 * LIMIT  # nothing past the limit reached the bus
    # The limit is per sender: carol, who sent nothing, still gets through.
    assert not carol.call_tool("send_message", {"to": name, "text": "are you two stuck?"}).is_error


def test_a_broadcast_counts_every_recipient_and_is_all_or_nothing(peers: tuple[Session, ...], sandbox: Sandbox) -> None:
    *others, dave = peers
    assert LIMIT % len(others) == 0
    for _ in range(LIMIT // len(others)):  # one message per recipient: exactly the limit
        assert not dave.call_tool("broadcast", {"text": "to all"}).is_error
    assert stored(sandbox, "dave") == LIMIT
    refused = dave.call_tool("broadcast", {"text": "one more"})
    assert refused.is_error, refused.text
    assert f"the limit is {LIMIT}" in refused.text, refused.text
    assert stored(sandbox, "dave") == LIMIT  # not part of a broadcast
    assert dave.call_tool("send_message", {"to": "carol", "text": "and direct"}).is_error
    carol = others[2]
    wait_until(
        lambda: len([e for e in carol.channel_events if e.meta["from"] == "dave"]) == LIMIT // len(others),
        timeout=10,
        what=f"carol to receive dave's {LIMIT // len(others)} messages",
    )
    got = [e.content for e in carol.channel_events if e.meta["from"] == "dave"]
    assert set(got) == {"to all"}
