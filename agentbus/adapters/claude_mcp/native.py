"""The native door: a message written into this session through Claude Code's own messaging socket.

Claude Code (2.1.224+) listens on ``CLAUDE_CODE_MESSAGING_SOCKET`` and gives each stdio server it
starts the socket's path and a token. One connection per message carries two JSON lines, the
``auth`` line and a ``user`` line whose content is the text the model gets; the socket answers
nothing. Claude Code records the write as ``queue-operation`` ``enqueue`` in the session
transcript at once (received), and shows it to the model framed as a message from "another Claude
session" (seen): at once when the session is idle, between tool calls when it is busy (checked
with 2.1.331 and 2.1.337). Input its own child process wrote is accepted even in bypass-permissions
mode (``selfSent``), where a write from any other process would be held for the user.

The content is the ``<channel source="agentbus" ...>`` tag the channel door's events show the
model, so replies, threading and receipts read the same on both doors, then a line naming the
agentbus reply tool (Claude Code's framing of the input tells the model to answer with its own
SendMessage tool). The token is this process's
alone: it never leaves it and never touches the bus.
"""

import asyncio
import json

from agentbus.adapters.claude_mcp.protocol import render_input
from agentbus.adapters.doors import NativeSocket
from agentbus.core.envelope import Envelope
from agentbus.core.ports import Handled

#: Claude Code drops a connection whose line grows past this many characters (1 MiB).
MAX_LINE = 1 << 20
#: A write that has not finished by then (Claude Code busy reading, or gone) is a failed push.
WRITE_TIMEOUT_SECONDS = 5.0


class DoorClosed(Exception):
    """The door did not take the message: it stays pending (or goes through the next open door)."""


def socket_lines(token: str, content: str) -> bytes:
    """The two lines one message is: the ``auth`` line, then the ``user`` line carrying ``content``."""
    auth = json.dumps({"type": "auth", "token": token})
    user = json.dumps({"type": "user", "message": {"role": "user", "content": content}}, ensure_ascii=False)
    if len(user) > MAX_LINE:
        raise DoorClosed(f"the message is {len(user):,} characters as a socket line; Claude Code takes {MAX_LINE:,}")
    return f"{auth}\n{user}\n".encode()


class NativeDoor:
    """Delivery through the messaging socket: ``deliver`` returns once both lines were written and the
    connection closed, and raises DoorClosed when the socket refused or the write did not finish."""

    def __init__(self, socket: NativeSocket) -> None:
        self.socket = socket

    async def deliver(self, envelope: Envelope) -> Handled:
        data = socket_lines(self.socket.token, render_input(envelope.body, envelope.meta()))
        try:
            async with asyncio.timeout(WRITE_TIMEOUT_SECONDS):
                _reader, writer = await asyncio.open_unix_connection(str(self.socket.path))
                try:
                    writer.write(data)
                    await writer.drain()
                finally:
                    writer.close()
                    await writer.wait_closed()
        except (OSError, TimeoutError) as exc:
            raise DoorClosed(f"Claude Code's messaging socket {self.socket.path} did not take it: {exc}") from None
        return Handled.SHOWN
