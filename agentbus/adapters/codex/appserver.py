"""A client of Codex's app-server: JSON-RPC over a WebSocket on a Unix socket (``codex app-server --listen unix://PATH``).

Checked against codex-cli 0.169.0 (docs/codex.md): the socket speaks WebSocket (a plain JSON line
gets the connection closed); a client opens with ``initialize {clientInfo}`` and the notification
``initialized``; requests are answered by id, and notifications (thread status, turn events) come
in between. One reader task matches answers to callers; notifications are dropped, since delivery
needs only the answers.
"""

import asyncio
import contextlib
import itertools
import json
import logging
import os
from pathlib import Path
from typing import Any

from agentbus import __version__

log = logging.getLogger(__name__)

#: Codex announces this limit in its 101 response (``x-codex-websocket-max-unfragmented-message-bytes``).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
CLIENT_INFO = {"name": "agentbus", "title": "agentbus", "version": __version__}


class AppServerError(Exception):
    """The app-server refused a request (``code``, ``message``), or cannot be reached."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class AppServerClient:
    """One connection to the app-server at ``socket``; ``call`` sends a request and returns its result."""

    def __init__(self, socket: Path, *, timeout: float = 10.0) -> None:
        self.socket = socket
        self.timeout = timeout
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)

    @property
    def connected(self) -> bool:
        return self._ws is not None and self._reader is not None and not self._reader.done()

    async def connect(self) -> None:
        """Open the socket and the JSON-RPC session (AppServerError if Codex does not answer)."""
        from websockets.asyncio.client import unix_connect

        try:
            # Codex makes a socket path too long for AF_UNIX (108 bytes) a symlink to a short one: connect there.
            path = os.path.realpath(self.socket)  # noqa: ASYNC240 - one readlink, before the connection exists
            self._ws = await asyncio.wait_for(
                unix_connect(path, uri="ws://localhost/", max_size=MAX_MESSAGE_BYTES), self.timeout
            )
        except (OSError, TimeoutError, ValueError) as exc:
            raise AppServerError(f"cannot connect to the Codex app-server at {self.socket}: {exc}") from None
        except Exception as exc:  # websockets' handshake errors (InvalidHandshake, InvalidURI, ...)
            raise AppServerError(f"the Codex app-server at {self.socket} refused the connection: {exc}") from None
        self._reader = asyncio.get_running_loop().create_task(self._read(), name="codex-app-server-reader")
        await self.call("initialize", {"clientInfo": CLIENT_INFO})
        await self.notify("initialized")

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        if self._ws is None:
            raise AppServerError("not connected to the Codex app-server")
        request_id = next(self._ids)
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = answer
        try:
            await self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}})
            message = await asyncio.wait_for(answer, self.timeout)
        except TimeoutError:
            raise AppServerError(f"the Codex app-server did not answer {method} within {self.timeout:g} s") from None
        finally:
            self._pending.pop(request_id, None)
        error = message.get("error")
        if error is not None:
            code = error.get("code") if isinstance(error, dict) else None
            text = error.get("message") if isinstance(error, dict) else error
            raise AppServerError(f"{method}: {text}", code if isinstance(code, int) else None)
        result = message.get("result")
        return result if isinstance(result, dict) else {}

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self._send(message)

    async def _send(self, message: dict[str, Any]) -> None:
        try:
            await self._ws.send(json.dumps(message))
        except Exception as exc:  # ConnectionClosed and the transport's OSErrors
            self._lost(f"the Codex app-server connection closed: {exc}")
            raise AppServerError(f"cannot write to the Codex app-server: {exc}") from None

    async def _read(self) -> None:
        try:
            async for frame in self._ws:
                try:
                    message = json.loads(frame)
                except ValueError:
                    log.debug("ignored a frame that is not JSON from the app-server")
                    continue
                if not isinstance(message, dict) or "method" in message:
                    continue  # a notification or a request of the server: delivery needs neither
                waiter = self._pending.get(message.get("id"))  # type: ignore[arg-type]
                if waiter is not None and not waiter.done():
                    waiter.set_result(message)
        except Exception as exc:  # the connection went away
            log.info("the Codex app-server connection ended: %s", exc)
        finally:
            self._lost("the Codex app-server connection closed")

    def _lost(self, why: str) -> None:
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(AppServerError(why))
        self._pending.clear()
        self._ws = None

    async def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
