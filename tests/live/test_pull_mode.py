"""A session with no door gets its mail through read_messages, and no push: Claude Code 2.1.197 started
without the channels flag (it gives its servers no messaging socket), or a newer one with AGENTBUS_PUSH=off.
`agentbus peers` lists it as pull only."""

import contextlib
import uuid
from collections.abc import Callable

import pytest

from fakeclaude import Sandbox
from fakeclaude.live.driver import LiveSession
from fakeclaude.live.mcplog import ChannelNotification, LogEntry
from fakeclaude.live.model import FakeModel, Rule, after_tool_result, call_on_prompt, channel_tags
from live.support import agentbus_cli

STEP = 60.0
LIST_WAIT = 20.0
READ_MESSAGES = "mcp__agentbus__read_messages"
CHECK_MAIL = "check-my-agentbus-mail"


@pytest.fixture
def model_rules() -> list[Rule]:
    return [call_on_prompt(CHECK_MAIL, READ_MESSAGES), after_tool_result()]


def test_without_a_door_mail_comes_through_read_messages(
    live: Callable[..., LiveSession], peers: Sandbox, model: FakeModel, native_door: bool
) -> None:
    text = f"mail for a session without channels {uuid.uuid4().hex[:8]}"
    agentbus_cli(peers, "send", "bob", text, "--as", "alice")
    bob = live("bob", channels=False, env={"AGENTBUS_PUSH": "off"} if native_door else None)
    # "Connected" is logged after initialize; the tools are Claude Code's only once tools/list is answered,
    # which it logs as its channel decision ("Channel notifications skipped"). A prompt typed sooner
    # meets "No such tool available" (seen in CI: the adapter now loads SQLAlchemy after the initialize
    # answer, before tools/list). 2.1.197 buffers its log, so a missing line only costs the wait.
    with contextlib.suppress(TimeoutError):
        bob.mcp_log.wait_for(LogEntry, LIST_WAIT, lambda e: "Channel notifications skipped" in e.message)
    listed = agentbus_cli(peers, "peers").stdout
    assert any(line.split()[:1] == ["bob"] and "pull only" in line for line in listed.splitlines()), listed
    bob.type_prompt(CHECK_MAIL)
    answered = model.wait_for(lambda request: any(name == READ_MESSAGES for name, _ in request.tool_results()), STEP)
    assert answered is not None, f"read_messages was never called; screen:\n{bob.screen_plain()[-2000:]}"
    assert bob.mcp_log.of(ChannelNotification) == [], "a channel event reached a session without the flag"
    shown = [
        tag
        for request in model.requests
        for turn in request.turn_texts()
        for tag in channel_tags(turn)
        if text in tag.body
    ]
    assert shown == [], "the model was shown the mail as a push (a channel event or a native write)"
    assert "← agentbus" not in bob.screen_plain(), "the terminal showed a channel event"
    # Claude Code shows the model a tool's structuredContent, not its text: the mail must be in it.
    results = [out for name, out in answered.tool_results() if name == READ_MESSAGES]
    assert any(text in out for out in results), f"the model was not shown the mail: {results}"
    bob.quit()
