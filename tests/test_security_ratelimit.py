"""LIMIT-4 through the adapter: a per-sender rate limit stops reply loops with a clear tool error.

The limit is enforced by the sending adapter with its own AGENTBUS_RATE_LIMIT_PER_MINUTE (a guard
against runaway agents, not against a hostile local process that sets the variable itself).
"""

from collections.abc import Iterator

import pytest

from agentbus.core import Bus, Settings
from fakeclaude import Sandbox, Session

LIMIT = 6


@pytest.fixture
def peers(fakeclaude_bus: Sandbox) -> Iterator[tuple[Session, Session, Session]]:
    Bus.open(Settings(home=fakeclaude_bus.bus_home)).close()  # created here: the adapters only open it
    alice, bob, carol = fakeclaude_bus.start_sessions(
        "alice", "bob", "carol", env={"AGENTBUS_RATE_LIMIT_PER_MINUTE": str(LIMIT)}
    )
    yield alice, bob, carol


def stored(sandbox: Sandbox, sender: str) -> int:
    with Bus.open(Settings(home=sandbox.bus_home)) as bus:
        return len(bus.history(sender, limit=10_000))


def test_a_reply_loop_is_stopped_by_the_limit(peers: tuple[Session, Session, Session], fakeclaude_bus: Sandbox) -> None:
    alice, bob, carol = peers
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
    assert f"the limit is {LIMIT}" in text and "AGENTBUS_RATE_LIMIT_PER_MINUTE" in text and "loop" in text, text
    assert turns <= 2 * LIMIT
    assert stored(fakeclaude_bus, name) <= 2 * LIMIT  # nothing past the limit reached the bus
    # The limit is per sender: carol, who sent nothing, still gets through.
    assert not carol.call_tool("send_message", {"to": name, "text": "are you two stuck?"}).is_error


def test_a_broadcast_counts_every_recipient_and_is_all_or_nothing(
    peers: tuple[Session, Session, Session], fakeclaude_bus: Sandbox
) -> None:
    alice, bob, _ = peers
    for _ in range(LIMIT // 2):  # two recipients each: exactly the limit
        assert not alice.call_tool("broadcast", {"text": "to all"}).is_error
    assert stored(fakeclaude_bus, "alice") == LIMIT
    refused = alice.call_tool("broadcast", {"text": "one more"})
    assert refused.is_error and f"the limit is {LIMIT}" in refused.text, refused.text
    assert stored(fakeclaude_bus, "alice") == LIMIT  # not half a broadcast
    assert alice.call_tool("send_message", {"to": "bob", "text": "and direct"}).is_error
    got = {bob.wait_for_channel(timeout=5).content for _ in range(LIMIT // 2)}
    assert got == {"to all"}
    assert not bob.call_tool("send_message", {"to": "alice", "text": "bob is not limited"}).is_error
