"""Claude Code's messaging socket, played: the native door a fake session opens to its adapter.

Claude Code (2.1.224+) listens on a Unix socket and gives each stdio server it starts its path and a
token (``CLAUDE_CODE_MESSAGING_SOCKET``, ``CLAUDE_CODE_MESSAGING_TOKEN``; the profile's
``native_door`` key). A connection writes JSON lines, ``{"type": "auth", "token": ...}`` then
``{"type": "user", "message": {"role": "user", "content": TEXT}}``; the socket answers nothing and
a line over 1 MiB drops the connection. The real client takes a line without the auth line on
Linux; this fake is stricter and keeps only authenticated writes (SPEC DOOR-3), noting the rest in
``refused`` with the reason.

``vanish()`` takes the socket away (a Claude Code whose messaging stopped), ``come_back()`` listens
on the same path again. Each accepted ``user`` line is a ``NativeWrite`` (``writes``) with the
writer's pid (SO_PEERCRED, as Claude Code's ``verifiedPeerPid``), handed to ``on_write``. The
socket lives in a directory made under /tmp, so its path fits the 107 bytes of AF_UNIX whatever
the caller's temporary directory.
"""

import contextlib
import json
import os
import secrets
import selectors
import shutil
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SOCKET_VARIABLE = "CLAUDE_CODE_MESSAGING_SOCKET"
TOKEN_VARIABLE = "CLAUDE_CODE_MESSAGING_TOKEN"  # noqa: S105 - the variable's name, not a token
#: Claude Code drops a connection whose line grows past this many characters.
MAX_LINE = 1 << 20


@dataclass(frozen=True)
class NativeWrite:
    """One ``user`` line an authenticated connection wrote: its text, the writer's pid, when (monotonic)."""

    content: str
    writer_pid: int | None
    at: float
    raw: str
    #: Its place among the socket's writes (1, 2, ...).
    seq: int = 0


class FakeMessagingSocket:
    """The socket and its token; ``start()`` listens, ``close()`` removes it."""

    def __init__(self, on_write: Callable[[NativeWrite], None] | None = None) -> None:
        self.on_write = on_write
        self.dir = Path(tempfile.mkdtemp(prefix="cc-socks-", dir="/tmp"))
        self.path = self.dir / f"{os.getpid()}.sock"
        self.token = secrets.token_hex(16)
        self.writes: list[NativeWrite] = []
        #: Lines and connections the socket did not take, each with the reason.
        self.refused: list[str] = []
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def env(self) -> dict[str, str]:
        """The variables a Claude Code puts in its servers' environment for this door."""
        return {SOCKET_VARIABLE: str(self.path), TOKEN_VARIABLE: self.token}

    def start(self) -> "FakeMessagingSocket":
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(self.path))
        os.chmod(self.path, 0o600)
        server.listen(64)
        server.setblocking(False)
        self._server = server
        self._thread = threading.Thread(target=self._serve, args=(server,), name="fakeclaude-native", daemon=True)
        self._thread.start()
        return self

    def vanish(self) -> None:
        """Go away as a Claude Code whose messaging stopped does: nothing listens, the socket file is gone."""
        server, self._server = self._server, None
        if server is not None:
            with contextlib.suppress(OSError):
                server.shutdown(socket.SHUT_RDWR)
            server.close()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def come_back(self) -> "FakeMessagingSocket":
        """Listen on the same path again (after ``vanish``), with the same token."""
        return self.start()

    @property
    def listening(self) -> bool:
        return self._server is not None

    def close(self) -> None:
        """Stop listening and remove the socket's directory. Idempotent."""
        self.vanish()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _serve(self, server: socket.socket) -> None:
        """One thread for every connection, handled in the order they were accepted (the order the real
        client keeps: 20 writes on 20 connections back to back were enqueued in order by 2.1.337)."""
        with selectors.DefaultSelector() as selector:
            selector.register(server, selectors.EVENT_READ)
            connections: dict[socket.socket, _Connection] = {}
            while self._server is not None:
                if not selector.select(timeout=0.2):
                    continue
                while True:
                    try:
                        conn, _ = server.accept()
                    except OSError:  # BlockingIOError: none waiting; or the socket was closed
                        break
                    conn.setblocking(False)
                    connections[conn] = _Connection(_peer_pid(conn))
                    selector.register(conn, selectors.EVENT_READ)
                for conn, state in list(connections.items()):
                    if not self._read(conn, state):
                        selector.unregister(conn)
                        del connections[conn]
                        conn.close()
            for conn in connections:
                conn.close()

    def _read(self, conn: socket.socket, state: "_Connection") -> bool:
        """Take what one connection sent so far; False once it is done (closed by the writer, or dropped)."""
        try:
            chunk = conn.recv(65536)
        except BlockingIOError:
            return True  # nothing new on this one yet
        except OSError:
            return False
        if not chunk:
            if state.buffer.strip():
                self._refuse(f"an unterminated line from pid {state.pid} (a line ends with a newline)")
            return False
        state.buffer += chunk
        if len(state.buffer) > MAX_LINE + 1 and b"\n" not in state.buffer:
            self._refuse(f"a line over {MAX_LINE:,} characters from pid {state.pid}; connection dropped")
            return False
        *lines, state.buffer = state.buffer.split(b"\n")
        for raw in lines:
            if not raw.strip():
                continue
            authed = self._line(raw, state.pid, state.authed)
            if authed is None:
                return False
            state.authed = authed
        return True

    def _line(self, raw: bytes, pid: int | None, authed: bool) -> bool | None:
        """Handle one line; the connection's auth state after it, or None to drop the connection."""
        text = raw.decode("utf-8", "replace")
        try:
            line = json.loads(text)
        except ValueError:
            self._refuse(f"a line that is not JSON from pid {pid}: {text[:80]!r}")
            return authed
        kind = line.get("type") if isinstance(line, dict) else None
        if kind == "auth":
            if line.get("token") != self.token:
                self._refuse(f"an auth line with a wrong token from pid {pid}; connection dropped")
                return None
            return True
        if kind != "user":
            self._refuse(f"a {kind!r} line from pid {pid} (the socket takes auth and user lines)")
            return authed
        if not authed:
            self._refuse(f"a user line before any auth line from pid {pid}")
            return authed
        message = line.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str) or not content:
            self._refuse(f"a user line without a string content from pid {pid}")
            return authed
        with self._lock:
            write = NativeWrite(content, pid, time.monotonic(), text, len(self.writes) + 1)
            self.writes.append(write)
        if self.on_write is not None:
            self.on_write(write)
        return authed

    def _refuse(self, why: str) -> None:
        with self._lock:
            self.refused.append(why)


@dataclass
class _Connection:
    """One writer's connection: its pid, what it sent that is not a whole line yet, and whether it authenticated."""

    pid: int | None
    buffer: bytes = b""
    authed: bool = False


def _peer_pid(conn: socket.socket) -> int | None:
    try:
        pid, _uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    except (OSError, AttributeError, struct.error):
        return None
    return int(pid)
