"""Mail queued while a session was offline reaches the model once the session starts (several launches)."""

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


@pytest.mark.parametrize("launch", [1, 2, 3])
def test_mail_queued_before_launch_reaches_the_model_and_is_seen(
    live: Callable[..., LiveSession], peers: Sandbox, model: FakeModel, launch: int
) -> None:
    """Claude Code drops events that arrive before it listens; the adapter waits for it (SPEC MCP-8) and
    proves the model saw the mail from the session's transcript (RCPT-2): `agentbus status` says seen."""
    text = f"queued while bob was offline, launch {launch} {uuid.uuid4().hex[:8]}"
    sent = agentbus_cli(peers, "send", "bob", text, "--as", "alice")
    message_id = sent.stdout.split("#", 1)[1].split()[0]
    bob = live("bob")
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
    assert status["recipient_receipts"] is True and status["ladder"]["pushed"] is not None
    assert status["attempts"] == 1, f"pushed more than once (a push was lost or duplicated): {status}"
    bob.quit()
