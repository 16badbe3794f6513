"""The messages of a channel session's normal life, answered without the MCP SDK.

A session sends ``initialize`` (answered by opening.py), ``notifications/initialized``, ``tools/list``,
``ping`` and ``tools/call``, nothing else. Answering these here keeps the SDK (~40 MB, ~0.5 s of
imports, and pydantic validation plus an OpenTelemetry span per request, about half the CPU of a
send) out of the process; the answers are the SDK's own (tests compare them). Anything else goes to
the SDK server, started at that moment (sdk_bridge.py), which first hears the handshake kept here.
"""

import logging
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc

from agentbus.adapters.claude_mcp import protocol
from agentbus.adapters.claude_mcp.tools import TOOLS, ToolBox
from agentbus.adapters.claude_mcp.transport import LineWriter, TransportClosed

log = logging.getLogger(__name__)

TOOLS_LIST_RESULT: dict[str, Any] = {"tools": TOOLS}
INITIALIZED = "notifications/initialized"
#: Tool calls running at once; past this the reader waits, so a client flooding the adapter with
#: pipelined calls meets back-pressure on its pipe instead of growing the adapter's memory.
MAX_CALLS_IN_FLIGHT = 512


class LocalAnswers:
    """Takes the messages it can answer as the SDK would; ``take`` returning False means "SDK's".

    Tool calls run as concurrent tasks in ``tasks`` (so a burst of sends is committed together);
    ``ping`` and ``tools/list`` are answered in line.
    """

    def __init__(
        self,
        toolbox: ToolBox,
        writer: LineWriter,
        tasks: anyio.abc.TaskGroup,
        on_initialized: Callable[[], None],
        answered_id: object,
    ) -> None:
        self.toolbox = toolbox
        self.writer = writer
        self.tasks = tasks
        self.on_initialized = on_initialized
        self.answered_id = answered_id
        #: What the SDK must hear first if it starts: the initialize answered early, and initialized.
        self.handshake: list[dict[str, Any]] = []
        self.sdk_running = False
        self._call_slots = anyio.Semaphore(MAX_CALLS_IN_FLIGHT)

    async def take(self, message: object) -> bool:
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            return False
        method = message.get("method")
        if not isinstance(method, str) or not set(message) <= {"jsonrpc", "id", "method", "params"}:
            return False
        params = message.get("params")
        if params is not None and not isinstance(params, dict):
            return False
        if "id" not in message:
            return self._notification(method, message)
        request_id = message["id"]
        if isinstance(request_id, bool) or not isinstance(request_id, str | int):
            return False
        if method == "initialize" and self.answered_id is not None and request_id == self.answered_id:
            self.answered_id = None  # only once: a second initialize is the SDK's
            self.handshake.append(message)
            return True
        if method == "tools/call" and params is not None and _plain_tool_call(params):
            await self._call_slots.acquire()
            self.tasks.start_soon(self._call_tool, request_id, params["name"], params.get("arguments"))
            return True
        if method in ("ping", "tools/list") and _plain_params(params):
            await self._answer(request_id, {} if method == "ping" else TOOLS_LIST_RESULT)
            return True
        return False

    def _notification(self, method: str, message: dict[str, Any]) -> bool:
        if method == INITIALIZED:
            self.on_initialized()
            if not self.sdk_running:
                self.handshake.append(message)
                return True
            return False  # the running SDK hears it too
        # cancelled, progress, roots/list_changed...: nothing here acts on them. A running SDK may
        # (cancelling one of its own requests), so it gets them.
        return not self.sdk_running

    async def _call_tool(self, request_id: str | int, name: str, arguments: dict[str, Any] | None) -> None:
        try:
            await self._answer(request_id, await self.toolbox.call(name, arguments))
        finally:
            self._call_slots.release()

    async def _answer(self, request_id: str | int, result: dict[str, Any]) -> None:
        try:
            await self.writer.write(protocol.response_line(request_id, result))
        except TransportClosed:
            log.debug("the client left before the answer to request %r", request_id)


def _plain_meta(params: dict[str, Any]) -> bool:
    """No ``_meta``, or one without a progress token (progress notifications are the SDK's business)."""
    meta = params.get("_meta")
    return meta is None or (isinstance(meta, dict) and "progressToken" not in meta)


def _plain_params(params: dict[str, Any] | None) -> bool:
    """No params, or only a cursor and a plain ``_meta``."""
    return params is None or (set(params) <= {"_meta", "cursor"} and _plain_meta(params))


def _plain_tool_call(params: dict[str, Any]) -> bool:
    """``tools/call`` params as the SDK accepts them: a string name, object or no arguments, plain ``_meta``."""
    arguments = params.get("arguments")
    return (
        isinstance(params.get("name"), str)
        and (arguments is None or isinstance(arguments, dict))
        and set(params) <= {"name", "arguments", "_meta"}
        and _plain_meta(params)
    )
