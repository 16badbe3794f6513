"""The opening: the first lines of the wire, answered with blocking I/O before the event loop exists.

Claude Code waits for the ``initialize`` result (2.1.331 first waits for its ``server/discover``
probe to fail), and the event loop's modules take ~200 ms to import. So the adapter reads and
answers these first requests here, through the same wire and router as the rest of the session,
and hands the loop whatever it read past them (server.py decides when the loop is imported).
"""

import logging
import os
import select
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from agentbus.adapters.claude_mcp import wire
from agentbus.adapters.claude_mcp.protocol import DISCOVER_METHOD
from agentbus.adapters.claude_mcp.router import Router

log = logging.getLogger(__name__)

READ_CHUNK = 65536
#: The requests answered before the loop starts; the opening ends after ``initialize``.
OPENING_METHODS = frozenset({DISCOVER_METHOD, "initialize"})


@dataclass
class Opening:
    """What the opening read: the framer (holding any partial line) and the lines it did not handle."""

    framer: wire.Framer = field(default_factory=wire.Framer)
    unread: list[bytes | wire.Refusal] = field(default_factory=list)
    eof: bool = False
    #: The ``clientInfo.name`` the client's ``initialize`` gave ("claude-code" for Claude Code).
    client: str | None = None


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


def answer_opening(
    fds: StdioFds, router: Router, before_initialize: Callable[[wire.Params], None] | None = None
) -> Opening:
    """Answer ``server/discover`` probes and ``initialize``; stop after ``initialize`` or at any other line.
    ``before_initialize`` gets the ``initialize`` params just before the answer is written (server.py)."""
    opening = Opening()
    while True:
        lines = opening.framer.lines()
        for index, line in enumerate(lines):
            request = wire.classify(line) if isinstance(line, bytes) else None
            if not isinstance(request, wire.Request) or request.method not in OPENING_METHODS:
                opening.unread = lines[index:]
                return opening
            if request.method == "initialize" and before_initialize is not None:
                before_initialize(request.params)
            write_blocking(fds.wire_out, router.answer_inline(request))
            if request.method == "initialize":
                opening.client = _client_name(request.params)
                opening.unread = lines[index + 1 :]
                return opening
        chunk = read_blocking(fds.wire_in)
        if not chunk:
            opening.eof = True
            return opening
        opening.framer.feed(chunk)


def _client_name(params: wire.Params) -> str | None:
    info = (params or {}).get("clientInfo")
    name = info.get("name") if isinstance(info, dict) else None
    return name if isinstance(name, str) else None


def stderr_line(text: str) -> None:
    """One line for the person reading the client's MCP log (stderr is never protocol)."""
    sys.stderr.write(f"agentbus: {text}\n")
    sys.stderr.flush()
