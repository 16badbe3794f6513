"""ping -> pong through a live Claude Code session: a fakeclaude peer pings, the model answers with send_message."""

import time
from collections.abc import Callable

from fakeclaude import Sandbox
from fakeclaude.live.driver import LiveSession
from fakeclaude.live.mcplog import ToolCompleted
from fakeclaude.live.model import FakeModel, ModelRequest, channel_tags
from live.support import assert_clean_exit

STEP = 60.0
LOG_WAIT = 20.0


def test_ping_pong_through_a_live_session(
    live: Callable[..., LiveSession], peers: Sandbox, model: FakeModel, live_figure: Callable[[str, object], None]
) -> None:
    bob = live("bob")
    assert bob.connected is not None and bob.registered is not None
    alice = peers.start_session("alice")
    started = time.monotonic()
    sent = alice.call_tool("send_message", {"to": "bob", "text": "ping"}, timeout=STEP)
    assert not sent.is_error, sent.text
    ping_id = str(sent.json()["msg_id"])
    pong = alice.wait_for_channel(lambda event: event.content == "pong", timeout=STEP)
    round_trip_ms = (pong.received_at - started) * 1000
    assert pong.meta["from"] == "bob"
    assert pong.meta.get("reply_to") == ping_id, pong.meta

    def saw_ping(request: ModelRequest) -> bool:
        tags = [tag for text in request.last_user_texts() for tag in channel_tags(text)]
        return any(tag.body == "ping" and tag.attributes.get("from") == "alice" for tag in tags)

    assert model.wait_for(saw_ping, 0) is not None, "the model never saw the ping as a <channel> tag"
    assert model.wait_for(lambda r: r.last_user_is_tool_result() and r.replied_at is not None, STEP) is not None
    adapter = bob.adapter()
    rss = bob.adapter_rss_kib()
    live_figure("connect (MCP log)", f"{bob.connected.ms} ms")
    live_figure("round trip ping -> pong", f"{round_trip_ms:.0f} ms")
    live_figure("send_message (MCP log)", _logged_tool_time(bob, "send_message"))
    live_figure("adapter RSS before quitting", f"{rss / 1024:.1f} MiB")

    bob.quit()
    assert_clean_exit(bob, adapter.pid, peers, "bob")


def _logged_tool_time(session: LiveSession, tool: str) -> str:
    """Claude Code's own time for the call. 2.1.197 buffers its MCP log (flushed every second, but seen
    once not written for over a minute), so a missing line is reported, not failed on."""
    try:
        entry = session.mcp_log.wait_for(ToolCompleted, LOG_WAIT, lambda e: e.tool == tool)
    except TimeoutError:
        return f"not in Claude Code's MCP log after {LOG_WAIT:g} s"
    return f"{entry.ms} ms"
