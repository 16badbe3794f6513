"""ping -> pong through a live Claude Code session, through each door it opens: a fakeclaude peer pings,
the model answers with send_message.

The native door: a plain ``claude`` (no flag, nothing to confirm) gives its servers a messaging
socket since 2.1.224, and the adapter writes into it. The channel door: ``claude
--dangerously-load-development-channels server:agentbus``, with AGENTBUS_PUSH=channel on the releases
that have both (the native door would be taken first).
"""

import json
import statistics
import time
from collections.abc import Callable

import pytest

from fakeclaude import Sandbox
from fakeclaude.live.driver import LiveSession
from fakeclaude.live.mcplog import ToolCompleted
from fakeclaude.live.model import FakeModel, ModelRequest, channel_tags
from fakeclaude.waiting import wait_until
from live.support import agentbus_cli, assert_clean_exit, peers_on_bus

STEP = 60.0
LOG_WAIT = 20.0
#: Round trips measured per session after the first (the figure is their median).
ROUND_TRIPS = 5


@pytest.mark.parametrize("door", ["native", "channel"])
def test_ping_pong_through_a_live_session(
    live: Callable[..., LiveSession],
    peers: Sandbox,
    model: FakeModel,
    live_figure: Callable[[str, object], None],
    native_door: bool,
    door: str,
) -> None:
    if door == "native" and not native_door:
        pytest.skip("this Claude Code gives its servers no messaging socket (2.1.224 and later do)")
    if door == "native":
        bob = live("bob", channels=False)
    else:
        bob = live("bob", env={"AGENTBUS_PUSH": "channel"} if native_door else None)
        assert bob.registered is not None
    assert bob.connected is not None
    alice = peers.start_session("alice")
    wait_until(lambda: _door_of(peers, "bob") == door, STEP, f"bob to say on the bus that his door is {door}")
    trips: list[float] = []
    for _ in range(1 + ROUND_TRIPS):
        started = time.monotonic()
        sent = alice.call_tool("send_message", {"to": "bob", "text": "ping"}, timeout=STEP)
        assert not sent.is_error, sent.text
        ping_id = str(sent.json()["msg_id"])
        pong = alice.wait_for_channel(lambda e, i=ping_id: e.content == "pong" and e.meta.get("reply_to") == i, STEP)
        assert pong.meta["from"] == "bob"
        trips.append((pong.received_at - started) * 1000)
        # The next ping waits for the end of this turn (the model's answer to the pong's tool result): one
        # sent sooner reaches a busy session, which hands it over beside that result (test_busy_session.py).
        over = model.wait_for(lambda r, t=started: r.at > t and r.last_user_is_tool_result() and r.replied_at, STEP)
        assert over is not None, "the model never answered the result of its send_message"

    def saw_ping(request: ModelRequest) -> bool:
        tags = [tag for text in request.last_user_texts() for tag in channel_tags(text)]
        return any(tag.body == "ping" and tag.attributes.get("from") == "alice" for tag in tags)

    shown = model.wait_for(saw_ping, 0)
    assert shown is not None, "the model never saw the ping as a <channel> tag"
    if door == "native":  # Claude Code's own framing of input from its messaging socket
        assert "Another Claude session sent a message" in "\n".join(shown.last_user_texts())
    assert model.wait_for(lambda r: r.last_user_is_tool_result() and r.replied_at is not None, STEP) is not None
    # A message the model reads but does not answer: the receipt ladder reaches seen from the transcript.
    note = alice.call_tool("send_message", {"to": "bob", "text": "no reply needed"}, timeout=STEP)
    note_id = str(note.json()["msg_id"])
    status = wait_until(lambda: _seen(peers, note_id), STEP, "agentbus status to say the note was seen")
    assert status["ladder"]["received"] is not None, status
    assert status["attempts"] == 1, status
    adapter = bob.adapter()
    rss = bob.adapter_rss_kib()
    live_figure(f"{door}: connect (MCP log)", f"{bob.connected.ms} ms")
    live_figure(f"{door}: first round trip ping -> pong", f"{trips[0]:.0f} ms")
    live_figure(f"{door}: round trip ping -> pong p50 of {ROUND_TRIPS}", f"{statistics.median(trips[1:]):.0f} ms")
    live_figure(f"{door}: send_message (MCP log)", _logged_tool_time(bob, "send_message"))
    live_figure(f"{door}: adapter RSS before quitting", f"{rss / 1024:.1f} MiB")

    bob.quit()
    assert_clean_exit(bob, adapter.pid, peers, "bob")


def _door_of(peers: Sandbox, name: str) -> str | None:
    return next((peer.get("door") for peer in peers_on_bus(peers) if peer.get("name") == name), None)


def _seen(peers: Sandbox, message_id: str) -> dict[str, object] | None:
    found = json.loads(agentbus_cli(peers, "status", message_id, "--json").stdout)
    return found if found["state"] == "seen" else None


def _logged_tool_time(session: LiveSession, tool: str) -> str:
    """Claude Code's own time for the call. 2.1.197 buffers its MCP log (flushed every second, but seen
    once not written for over a minute), so a missing line is reported, not failed on."""
    try:
        entry = session.mcp_log.wait_for(ToolCompleted, LOG_WAIT, lambda e: e.tool == tool)
    except TimeoutError:
        return f"not in Claude Code's MCP log after {LOG_WAIT:g} s"
    return f"{entry.ms} ms"
