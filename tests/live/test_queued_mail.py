"""Mail queued while a session was offline reaches the model once the session starts (several launches),
through the native door of a plain ``claude`` and through the channel of a flagged one."""

import json
import uuid
from collections.abc import Callable

import pytest

from fakeclaude import Sandbox
from fakeclaude.live.driver import LiveSession
from fakeclaude.live.model import FakeModel, channel_tags
from fakeclaude.waiting import wait_until
from live.support import agentbus_cli

WAIT = 30.0


@pytest.mark.parametrize("launch", range(1, 7))
def test_mail_queued_before_launch_reaches_a_plain_claude(
    live: Callable[..., LiveSession], peers: Sandbox, model: FakeModel, native_door: bool, launch: int
) -> None:
    """The native door keeps a write made as the session starts (SPEC DOOR-5): the mail is written at once
    and the transcript proves the model saw it (RCPT-2): `agentbus status` says seen."""
    if not native_door:
        pytest.skip("this Claude Code gives its servers no messaging socket (2.1.224 and later do)")
    _reaches_the_model(live, peers, model, launch, channels=False)


@pytest.mark.parametrize("launch", [1, 2])
def test_mail_queued_before_launch_reaches_a_flagged_claude_through_the_channel(
    live: Callable[..., LiveSession], peers: Sandbox, model: FakeModel, native_door: bool, launch: int
) -> None:
    """Claude Code drops channel events that arrive before it listens; the adapter waits for it (SPEC MCP-8)."""
    _reaches_the_model(live, peers, model, launch, channels=True, env={"AGENTBUS_PUSH": "channel"})


def _reaches_the_model(
    live: Callable[..., LiveSession],
    peers: Sandbox,
    model: FakeModel,
    launch: int,
    *,
    channels: bool,
    env: dict[str, str] | None = None,
) -> None:
    text = f"queued while bob was offline, launch {launch} {uuid.uuid4().hex[:8]}"
    sent = agentbus_cli(peers, "send", "bob", text, "--as", "alice")
    message_id = sent.stdout.split("#", 1)[1].split()[0]
    bob = live("bob", channels=channels, env=env)
    seen = model.wait_for(lambda request: text in request.text(), WAIT)
    detail = f"Claude Code's MCP log:\n{bob.mcp_log.describe()}"
    assert seen is not None, f"the model never got the mail queued before launch; {detail}"
    assert any(tag.body == text for tag in channel_tags(seen.text())), "the mail came, but not as a channel tag"
    status = wait_until(
        lambda: (
            (found := json.loads(agentbus_cli(peers, "status", message_id, "--json").stdout))["state"] == "seen"
            and found
        ),
        WAIT,
        "agentbus status to say seen",
    )
    assert status["recipient_receipts"] is True
    assert status["ladder"]["pushed"] is not None
    assert status["attempts"] == 1, f"pushed more than once (a push was lost or duplicated): {status}"
    bob.quit()
