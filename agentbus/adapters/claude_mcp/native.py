"""The native door: a message written into this session through Claude Code's own messaging socket.

Claude Code (2.1.224+) listens on ``CLAUDE_CODE_MESSAGING_SOCKET`` and gives each stdio server it
starts the socket's path and a token. A connection carries JSON lines, the ``auth`` line first, then
one ``user`` line per message whose content is the text the model gets; the socket answers nothing.
Claude Code records each write as ``queue-operation`` ``enqueue`` in the session transcript at once
(received), and shows it to the model framed as a message from "another Claude session" (seen): at
once when the session is idle, between tool calls when it is busy (checked with 2.1.331 and
2.1.337). Input its own child process wrote is accepted even in bypass-permissions mode
(``selfSent``), where a write from any other process would be held for the user.

The door keeps one connection open for the session and writes each message as one line on it:
the stream keeps the messages in order, and a burst costs no connection per message (1,500
pipelined messages each on a connection of its own overflowed the listen backlog of a busy
listener and fell back to the next door, out of order). A connection Claude Code closed, or one
that fails, is opened again once for the message at hand; a message whose line could not be
written raises DoorClosed and stays pending (a line cut short is dropped by Claude Code with its
connection, so the retry is no duplicate).

The content is the ``<channel source="agentbus" ...>`` tag the channel door's events show the
model, so replies, threading and receipts read the same on both doors, then a line naming the
agentbus reply tool (Claude Code's framing of the input tells the model to answer with its own
SendMessage tool). The token is this process's alone: it never leaves it and never touches the bus.
"""

import asyncio
import contextlib
import json

from agentbus.adapters.claude_mcp.protocol import render_input
from agentbus.adapters.doors import DoorClosed, NativeSocket
from agentbus.core.envelope import Envelope
from agentbus.core.ports import Handled

#: Claude Code drops a connection whose line grows past this many characters (1 MiB).
MAX_LINE = 1 << 20
#: A write that has not finished by then (Claude Code busy reading, or gone) is a failed push.
WRITE_TIMEOUT_SECONDS = 5.0


def auth_line(token: str) -> bytes:
    """The line a connection opens with."""
    return (json.dumps({"type": "auth", "token": token}) + "\n").encode()


def user_line(content: str) -> bytes:
    """The line one message is (DoorClosed if Claude Code would drop a line that long)."""
    user = json.dumps({"type": "user", "message": {"role": "user", "content": content}}, ensure_ascii=False)
    if len(user) > MAX_LINE:
        raise DoorClosed(f"the message is {len(user):,} characters as a socket line; Claude Code takes {MAX_LINE:,}")
    return f"{user}\n".encode()


class NativeDoor:
    """Delivery through the messaging socket: ``deliver`` returns once the message's line is written,
    and raises DoorClosed when the socket refused the connection or the write did not finish."""

    def __init__(self, socket: NativeSocket) -> None:
        self.socket = socket
        self._writer: asyncio.StreamWriter | None = None
        self._watch: asyncio.Task[None] | None = None

    async def deliver(self, envelope: Envelope) -> Handled:
        line = user_line(render_input(envelope.body, envelope.meta()))
        failure: Exception | None = None
        for _attempt in range(2):  # the open connection, then a new one
            try:
                async with asyncio.timeout(WRITE_TIMEOUT_SECONDS):
                    writer = self._writer or await self._connect()
                    writer.write(line)
                    await writer.drain()
                return Handled.SHOWN
            except (OSError, TimeoutError) as exc:
                failure = exc
                self._drop()
        raise DoorClosed(f"Claude Code's messaging socket {self.socket.path} did not take it: {failure}")

    async def _connect(self) -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_unix_connection(str(self.socket.path))
        writer.write(auth_line(self.socket.token))
        self._writer = writer
        self._watch = asyncio.get_running_loop().create_task(self._until_closed(reader, writer))
        return writer

    async def _until_closed(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Claude Code sends nothing: the end of the stream means it closed the connection."""
        with contextlib.suppress(OSError):
            await reader.read()
        if self._writer is writer:
            self._drop()

    def _drop(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    def close(self) -> None:
        """Close the connection (the session ends)."""
        watch, self._watch = self._watch, None
        self._drop()
        if watch is not None:
            watch.cancel()
