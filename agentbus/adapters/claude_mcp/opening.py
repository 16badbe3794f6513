"""The opening handshake, answered before the MCP SDK is imported, so a client sees a fast start.

Importing the SDK costs most of a second, while a client waits for the ``initialize`` result (and
Claude Code 2.1.331+ first waits for its ``server/discover`` probe to fail). So the adapter answers
those from plain dicts (protocol.py). The ``initialize`` is kept: if the SDK server is ever started
(sdk_bridge.py), it hears it first and its own (identical) answer is dropped. Anything unusual is
left to the SDK untouched.
"""

import json
import logging
import os
import select
import sys
from dataclasses import dataclass, field

from agentbus.adapters.claude_mcp import protocol

log = logging.getLogger(__name__)

READ_CHUNK = 65536


@dataclass
class Opening:
    """What the early handshake consumed: lines for the SDK, bytes read past them, what was answered."""

    replay: list[bytes] = field(default_factory=list)
    leftover: bytes = b""
    answered_id: object = None
    eof: bool = False

    @property
    def answered(self) -> bool:
        return self.answered_id is not None


@dataclass
class StdioFds:
    """The wire: private duplicates of the process's stdin and stdout."""

    wire_in: int
    wire_out: int


def claim_stdio() -> StdioFds:
    """Move the protocol to private descriptors; fd 0 reads /dev/null and fd 1 goes to stderr.

    Stray prints (ours, a library's, a child's) then cannot corrupt the JSON-RPC stream.
    """
    try:
        import fcntl

        wire_in = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
        wire_out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    except (ImportError, OSError):
        return StdioFds(0, 1)
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(2, 1)
    except OSError:
        log.debug("could not divert fd 0/1; serving the wire in place", exc_info=True)
        return StdioFds(0, 1)
    return StdioFds(wire_in, wire_out)


def read_blocking(fd: int) -> bytes:
    """One chunk from ``fd`` (b"" at EOF), waiting even if the descriptor is non-blocking."""
    while True:
        try:
            return os.read(fd, READ_CHUNK)
        except BlockingIOError:
            select.select([fd], [], [])


def write_blocking(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        view = view[written:]


def answer_opening(fds: StdioFds) -> Opening:
    """Answer ``server/discover`` probes and a plain ``initialize``; stop at the first other message.

    Returns the lines the SDK must still see (the ``initialize``, or the first message it did not
    handle) and whatever was read after them.
    """
    buffer = b""
    while True:
        newline = buffer.find(b"\n")
        if newline < 0:
            chunk = read_blocking(fds.wire_in)
            if not chunk:
                return Opening(replay=[buffer] if buffer.strip() else [], eof=not buffer.strip())
            buffer += chunk
            continue
        line, buffer = buffer[: newline + 1], buffer[newline + 1 :]
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):
            return Opening(replay=[line], leftover=buffer)
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0" or "id" not in message:
            return Opening(replay=[line], leftover=buffer)
        method, request_id = message.get("method"), message["id"]
        if method == protocol.DISCOVER_METHOD and request_id is not None:
            write_blocking(fds.wire_out, protocol.method_not_found_line(request_id, method))
            continue
        if method == "initialize" and request_id is not None and protocol.is_plain_initialize(message.get("params")):
            result = protocol.initialize_result(message["params"])
            write_blocking(fds.wire_out, protocol.response_line(request_id, result))
            return Opening(replay=[line], leftover=buffer, answered_id=request_id)
        return Opening(replay=[line], leftover=buffer)


def stderr_line(text: str) -> None:
    """One line for the person reading the client's MCP log (stderr is never protocol)."""
    sys.stderr.write(f"agentbus: {text}\n")
    sys.stderr.flush()
