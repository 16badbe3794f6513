"""The stdio transport: JSON lines on the wire descriptors, without worker threads.

The SDK's own stdio transport reads stdin in a worker thread (a blocked read would keep the process
alive after SIGTERM) and its writes are fire-and-forget (a failed write is only logged). Here both
directions are asyncio pipe transports on the event loop: a write resolves once the bytes are in
the pipe, and raises when the client has gone, which is what "delivered" needs (ChannelDelivery).
A descriptor that cannot be polled (a regular file, /dev/null) falls back to a daemon reader thread
or to blocking writes.
"""

import asyncio
import contextlib
import json
import logging
import os
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc

from agentbus.adapters.claude_mcp.opening import Opening, StdioFds, write_blocking

log = logging.getLogger(__name__)

#: The longest line accepted from the client; longer ones are dropped with a warning.
MAX_LINE_BYTES = 16 * 1024 * 1024
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
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
    """The wire: parsed messages from the client go to ``handle``; ``writer`` writes lines back.

    ``opening`` holds what the early handshake (opening.py) consumed: its lines are handled first.
    A line that is not JSON is answered here; any JSON value is ``handle``'s business.
    """

    def __init__(self, fds: StdioFds, opening: Opening, handle: Callable[[object], Awaitable[None]]) -> None:
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
        """Every line from the client to ``handle``, the opening's lines first; returns at EOF."""
        for line in self.opening.replay:
            await self._forward(line)
        buffer = bytearray(self.opening.leftover)
        scanned = 0  # bytes of buffer known to hold no newline
        skipping = False  # inside an over-long line, dropping it up to its newline
        while True:
            newline = buffer.find(b"\n", scanned)
            if newline >= 0:
                line = bytes(buffer[: newline + 1])
                del buffer[: newline + 1]
                scanned = 0
                if skipping:
                    skipping = False
                else:
                    await self._forward(line)
                continue
            scanned = len(buffer)
            if skipping:
                buffer.clear()
                scanned = 0
            elif len(buffer) > MAX_LINE_BYTES:
                log.warning("dropped a message longer than %d bytes from the client", MAX_LINE_BYTES)
                await self.refuse(INVALID_REQUEST, f"message longer than {MAX_LINE_BYTES} bytes; dropped")
                buffer.clear()
                scanned = 0
                skipping = True
            chunk = await self._reader.read(READ_CHUNK)
            if not chunk:
                if buffer.strip() and not skipping:
                    await self._forward(bytes(buffer))
                return
            buffer += chunk

    async def _forward(self, line: bytes) -> None:
        """One line to ``handle``; one that is not JSON is answered here (JSON-RPC 2.0 section 5.1).

        Parsed with the json module rather than the SDK's validate_json, which rejects a lone
        surrogate escape (``"\\ud800"``): such a text must reach the tool and be refused there.
        """
        if not line.strip():
            return
        try:
            data = json.loads(line)
        except ValueError:  # also invalid UTF-8
            log.warning("the client sent a line that is not JSON: %.200r", line)
            await self.refuse(PARSE_ERROR, "Parse error: the line is not valid JSON in UTF-8")
            return
        except RecursionError:
            log.warning("the client sent JSON nested too deeply to parse: %.200r", line)
            await self.refuse(PARSE_ERROR, "Parse error: the JSON is nested too deeply")
            return
        await self.handle(data)

    async def refuse(self, code: int, message: str, request_id: object = None) -> None:
        error = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
        try:
            await self.writer.write(json.dumps(error).encode("utf-8") + b"\n")
        except TransportClosed:
            log.debug("could not answer a malformed line: the client is gone")
