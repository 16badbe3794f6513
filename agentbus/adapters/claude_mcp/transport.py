"""The stdio transport: bytes on the wire descriptors, on the event loop, without worker threads.

A worker thread blocked reading stdin would keep the process alive after SIGTERM, and a write that
is fire-and-forget (only logged when it fails) cannot say "delivered". Here both directions are
asyncio pipe transports: a write resolves once the bytes are in the pipe and raises when the client
has gone, which is what pushing needs (ChannelDelivery). A descriptor that cannot be polled (a
regular file, /dev/null) falls back to a daemon reader thread or to blocking writes. Lines are cut
and parsed by wire.py, not here.
"""

import asyncio
import contextlib
import logging
import os
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc

from agentbus.adapters.claude_mcp import wire
from agentbus.adapters.claude_mcp.opening import Opening, StdioFds, write_blocking

log = logging.getLogger(__name__)

READ_CHUNK = 65536


class TransportClosed(ConnectionError):
    """The client closed its end of the wire; nothing written now can reach it."""


class _WriteProtocol(asyncio.BaseProtocol):
    """Flow control for the stdout pipe: lets a writer wait until the kernel has taken its bytes."""

    def __init__(self) -> None:
        self.paused = False
        self.lost: BaseException | None = None
        self.gone = asyncio.Event()
        self._waiters: deque[asyncio.Future[None]] = deque()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._wake(None)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost = exc or TransportClosed("the client closed the adapter's stdout")
        self.gone.set()
        self._wake(self.lost)

    def _wake(self, exc: BaseException | None) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                if exc is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(TransportClosed(str(exc)))

    async def drained(self) -> None:
        if self.lost is not None:
            raise TransportClosed(str(self.lost))
        if not self.paused:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter


class LineWriter:
    """Writes whole lines to the client; ``write`` returns once the line is in the pipe."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._transport: asyncio.WriteTransport | None = None
        self._protocol: _WriteProtocol | None = None
        self._pipe: Any = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        pipe = os.fdopen(self.fd, "wb", buffering=0, closefd=False)
        try:
            transport, protocol = await loop.connect_write_pipe(_WriteProtocol, pipe)
        except (ValueError, OSError):
            log.debug("stdout cannot be polled; writing it blocking")
            return
        # High-water mark 0: any byte the kernel did not take at once pauses writers until it does.
        transport.set_write_buffer_limits(high=0)
        self._transport, self._protocol, self._pipe = transport, protocol, pipe

    async def write(self, data: bytes) -> None:
        """Write one line; TransportClosed if the client is gone (then nothing was delivered)."""
        if self._transport is None or self._protocol is None:
            try:
                write_blocking(self.fd, data)
            except OSError as exc:
                raise TransportClosed(f"cannot write to the client: {exc}") from exc
            return
        if self._protocol.lost is not None or self._transport.is_closing():
            raise TransportClosed("the client closed the adapter's stdout")
        self._transport.write(data)
        await self._protocol.drained()

    async def wait_gone(self) -> None:
        """Return when the client has closed its end of stdout (never, for a stdout that cannot be polled)."""
        if self._protocol is None:
            await anyio.sleep_forever()
            return
        await self._protocol.gone.wait()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class _ReadProtocol(asyncio.Protocol):
    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader

    def data_received(self, data: bytes) -> None:
        self.reader.feed_data(data)

    def eof_received(self) -> bool:
        self.reader.feed_eof()
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        self.reader.feed_eof()


class StdioTransport:
    """The wire on the event loop: each line from the client goes to ``handle``; ``writer`` writes back.

    ``opening`` holds what the opening (opening.py) read: its unhandled lines come first, then the
    rest of the stream through the same framer.
    """

    def __init__(
        self, fds: StdioFds, opening: Opening, handle: Callable[[bytes | wire.Refusal], Awaitable[None]]
    ) -> None:
        self.fds = fds
        self.opening = opening
        self.handle = handle
        self.writer = LineWriter(fds.wire_out)
        self._reader = asyncio.StreamReader(limit=READ_CHUNK)
        self._read_transport: asyncio.ReadTransport | None = None

    async def open(self) -> None:
        await self.writer.open()
        await self._open_reader()

    def close(self) -> None:
        if self._read_transport is not None:
            self._read_transport.close()
        self.writer.close()

    async def _open_reader(self) -> None:
        loop = asyncio.get_running_loop()
        if self.opening.eof:
            self._reader.feed_eof()
            return
        pipe = os.fdopen(self.fds.wire_in, "rb", buffering=0, closefd=False)
        try:
            self._read_transport, _ = await loop.connect_read_pipe(lambda: _ReadProtocol(self._reader), pipe)
        except (ValueError, OSError):
            log.debug("stdin cannot be polled; reading it in a daemon thread")
            self._start_reader_thread(loop)
            return
        # Lets the reader pause the pipe while the client is far ahead of the server.
        self._reader.set_transport(self._read_transport)

    def _start_reader_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        reader, fd = self._reader, self.fds.wire_in

        def pump() -> None:
            while True:
                try:
                    chunk = os.read(fd, READ_CHUNK)
                except OSError:
                    chunk = b""
                with contextlib.suppress(RuntimeError):  # the loop is gone: the process is exiting
                    if chunk:
                        loop.call_soon_threadsafe(reader.feed_data, chunk)
                    else:
                        loop.call_soon_threadsafe(reader.feed_eof)
                if not chunk:
                    return

        threading.Thread(target=pump, name="agentbus-stdin", daemon=True).start()

    async def pump(self) -> None:
        """Every line from the client to ``handle``, the opening's first; returns at EOF."""
        framer = self.opening.framer
        for line in self.opening.unread:
            await self.handle(line)
        while not self.opening.eof:
            chunk = await self._reader.read(READ_CHUNK)
            if not chunk:
                break
            framer.feed(chunk)
            for line in framer.lines():
                await self.handle(line)
        last = framer.rest()
        if last.strip():
            await self.handle(last)
