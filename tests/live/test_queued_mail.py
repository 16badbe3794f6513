"""Mail queued while a session was offline reaches the model once the session starts (several launches)."""

import uuid
from collections.abc import Callable

import pytest
from live_helpers import agentbus_cli, inbox

from fakeclaude import Sandbox
from fakeclaude.live.driver import LiveSession
from fakeclaude.live.install import PINNED_VERSIONS
from fakeclaude.live.mcplog import ChannelNotification
from fakeclaude.live.model import FakeModel, channel_tags

WAIT = 30.0


class QueuedPushDropped(AssertionError):
    """The adapter pushed the queued mail (the bus says delivered) but Claude Code never received it."""


# Seen here on 2.1.197 in about 1 launch of 10 under load (never on 2.1.331, which kept events that
# came up to 150 ms before its log said the handler was registered): a tap showed the push written
# 4.6 ms after the tools/list answer and 74 ms before "Channel notifications registered".
PUSHED_TOO_EARLY = (
    "adapter issue (claude-mcp, fix landing separately): it pushes mail queued before launch right after "
    "answering tools/list, but Claude Code 2.1.197 registers its channel handler only after it has processed "
    "that answer (5-80 ms later); an event arriving in between is dropped silently and still stamped delivered"
)
VERSIONS = [
    pytest.param(v, marks=pytest.mark.xfail(raises=QueuedPushDropped, strict=False, reason=PUSHED_TOO_EARLY))
    if v == "2.1.197"
    else v
    for v in PINNED_VERSIONS
]


@pytest.mark.parametrize("claude_version", VERSIONS)
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
