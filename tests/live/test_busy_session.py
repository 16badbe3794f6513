"""A busy plain ``claude`` gets its mail between tool calls, through the native door.

The model is in a turn that runs a slow Bash command when alice's ping arrives. Claude Code holds the
write (the transcript records it enqueued: received) and hands it to the model with the tool's
result, as an attachment ("Another Claude session sent a message while you were working"): the
model answers with send_message before the turn ends, and the pong reaches alice. Checked with
2.1.331 and 2.1.337; 2.1.197 has no native door.
"""

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fakeclaude import Sandbox
from fakeclaude.live.driver import LiveSession
from fakeclaude.live.home import ClaudeHome
from fakeclaude.live.model import (
    FakeModel,
    ModelRequest,
    Rule,
    ToolUse,
    after_tool_result,
    call_on_prompt,
    channel_tags,
)
from live.support import agentbus_cli

STEP = 60.0
WORK = "work-for-a-while"
#: How long the model's one tool call runs; the ping is sent while it does.
TOOL_SECONDS = 4


def _ping_since_the_last_answer(request: ModelRequest) -> list[dict[str, str]]:
    """The ping tags in what the model was given after its last answer (tool results, attachments)."""
    tags = [tag for text in request.texts_since_last_answer() for tag in channel_tags(text)]
    return [tag.attributes for tag in tags if tag.body == "ping"]


def answer_a_ping_mid_turn() -> Rule:
    """A ping handed over with a tool's result -> send_message pong (the turn goes on)."""

    def reply(request: ModelRequest) -> ToolUse:
        tag = _ping_since_the_last_answer(request)[-1]
        arguments = {"to": tag.get("from", ""), "text": "pong", "reply_to": tag.get("msg_id", "")}
        return ToolUse("mcp__agentbus__send_message", arguments)

    return Rule(lambda request: bool(_ping_since_the_last_answer(request)), reply, "answer a ping mid-turn")


@pytest.fixture
def model_rules() -> list[Rule]:
    work = call_on_prompt(WORK, "Bash", {"command": f"sleep {TOOL_SECONDS}", "description": "work"})
    return [answer_a_ping_mid_turn(), work, after_tool_result()]


def test_a_busy_session_gets_its_mail_between_tool_calls(
    claude: Path,
    tmp_path: Path,
    peers: Sandbox,
    model: FakeModel,
    native_door: bool,
    live_figure: Callable[[str, object], None],
) -> None:
    if not native_door:
        pytest.skip("this Claude Code gives its servers no messaging socket (2.1.224 and later do)")
    home = ClaudeHome.create(tmp_path / "claude", peers.bus_home, allow=("mcp__agentbus__*", "Bash"))
    bob = LiveSession(claude, home, model, "bob", channels=False)
    try:
        bob.start()
        alice = peers.start_session("alice")
        bob.type_prompt(WORK)
        tool_started = model.wait_for(lambda r: r.reply is not None and "Bash" in str(r.reply), STEP)
        assert tool_started is not None, "the model never started its Bash command"
        sent_at = time.monotonic()
        sent = alice.call_tool("send_message", {"to": "bob", "text": "ping"}, timeout=STEP)
        ping_id = str(sent.json()["msg_id"])
        carried = model.wait_for(lambda r: bool(_ping_since_the_last_answer(r)), STEP)
        assert carried is not None, f"the model never got the ping; screen:\n{bob.screen_plain()[-1500:]}"
        assert carried.last_user_is_tool_result(), "the ping did not come with the tool's result (mid-turn)"
        pong = alice.wait_for_channel(lambda e: e.content == "pong" and e.meta.get("reply_to") == ping_id, STEP)
        status = json.loads(agentbus_cli(peers, "status", ping_id, "--json").stdout)
        assert status["state"] == "answered", status
        assert status["ladder"]["received"] is not None, status
        got = (carried.at - sent_at) * 1000
        live_figure("busy session: ping sent -> model got it (with the tool result)", f"{got:.0f} ms")
        live_figure("busy session: ping -> pong", f"{(pong.received_at - sent_at) * 1000:.0f} ms")
        bob.quit()
    finally:
        bob.close()
