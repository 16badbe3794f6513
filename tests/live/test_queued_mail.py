"""Mail queued while a session was offline reaches the model once the session starts (several launches)."""

import uuid
from collections.abc import Callable

import pytest

from fakeclaude import Sandbox
from fakeclaude.live.driver import LiveSession
from fakeclaude.live.mcplog import ChannelNotification
from fakeclaude.live.model import FakeModel, channel_tags
from live.support import agentbus_cli, inbox

WAIT = 30.0


class QueuedPushDropped(AssertionError):
    """The adapter pushed the queued mail (the bus says delivered) but Claude Code never received it."""


# Seen here on both pinned versions, under load (other test runs on the 2 cores): 2.1.197 lost 2 of 24
# launches (a tap showed the push written 4.6 ms after the tools/list answer and 74 ms before
# "Channel notifications registered"), 2.1.331 lost 1 of 21 (its handler registered 270 ms after connect).
PUSHED_TOO_EARLY = (
    "adapter issue (claude-mcp, fix landing separately): it pushes mail queued before launch right after "
    "answering tools/list, but Claude Code (2.1.197 and 2.1.331) registers its channel handler only after it "
    "has processed that answer (5-270 ms later here); an event arriving in between is dropped silently and "
    "still stamped delivered"
)


@pytest.mark.xfail(raises=QueuedPushDropped, strict=False, reason=PUSHED_TOO_EARLY)
@pytest.mark.parametrize("launch", [1, 2, 3])
def test_mail_queued_before_launch_reaches_the_model(
    live: Callable[..., LiveSession], peers: Sandbox, model: FakeModel, launch: int
) -> None:
    text = f"queued while bob was offline, launch {launch} {uuid.uuid4().hex[:8]}"
    agentbus_cli(peers, "send", "bob", text, "--as", "alice")
    bob = live("bob")
    seen = model.wait_for(lambda request: text in request.text(), WAIT)
    if seen is None:
        status = {m["text"]: m["status"] for m in inbox(peers, "bob")["recent"]}.get(text)
        received = [e.message for e in bob.mcp_log.of(ChannelNotification)]
        detail = f"bus status {status!r}; Claude Code's MCP log:\n{bob.mcp_log.describe()}"
        if status == "delivered" and not received:
            raise QueuedPushDropped(f"the adapter pushed the queued mail, Claude Code dropped it; {detail}")
        pytest.fail(f"the model never got the mail queued before launch; {detail}")
    assert any(tag.body == text for tag in channel_tags(seen.text())), "the mail came, but not as a channel tag"
    bob.quit()
