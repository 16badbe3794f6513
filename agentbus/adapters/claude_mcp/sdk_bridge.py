"""The MCP SDK's low-level server, started only for messages the adapter does not answer itself.

Importing the SDK costs ~40 MB and ~0.5 s, so the adapter answers the messages of a channel
session's normal life itself (local.py) and starts the SDK server for the first other message:
a second ``initialize``, an unknown method, a request it does not recognise. The SDK then hears
the handshake it missed (replayed; its answer to the ``initialize`` already answered is dropped)
and every message the adapter does not answer itself from then on.
"""

import json
import logging
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
import mcp_types as types
from anyio.streams.memory import MemoryObjectSendStream
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.runner import serve_loop
from mcp.shared.message import SessionMessage
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from agentbus.adapters.claude_mcp import protocol
from agentbus.adapters.claude_mcp.tools import TOOLS, ToolBox
from agentbus.adapters.claude_mcp.transport import INVALID_REQUEST, LineWriter, TransportClosed

log = logging.getLogger(__name__)

_TOOL_MODELS = [types.Tool.model_validate(tool) for tool in TOOLS]


def build_server(toolbox: ToolBox, on_initialized: Callable[[], None]) -> Server[Any]:
    """The MCP low-level server: tools, instructions, and a hook for ``notifications/initialized``."""

    async def list_tools(
        _ctx: ServerRequestContext[Any], _params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=_TOOL_MODELS)

    async def call_tool(_ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        result = await toolbox.call(params.name, params.arguments)
        return types.CallToolResult.model_validate(result)

    async def initialized(_ctx: ServerRequestContext[Any], _params: types.NotificationParams) -> None:
        on_initialized()

    server: Server[Any] = Server(
        protocol.SERVER_NAME,
        version=protocol.SERVER_VERSION,
        instructions=protocol.INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
    server.add_notification_handler("notifications/initialized", types.NotificationParams, initialized)
    return server


def initialization_options(server: Server[Any]) -> Any:
    return server.create_initialization_options(experimental_capabilities=protocol.experimental_capabilities())


class SdkServer:
    """The SDK server on its own stream pair; ``forward`` feeds it one parsed message."""

    def __init__(
        self,
        toolbox: ToolBox,
        writer: LineWriter,
        on_initialized: Callable[[], None],
        refuse: Callable[[int, str, object], Any],
        answered_id: object,
    ) -> None:
        self.server = build_server(toolbox, on_initialized)
        self.refuse = refuse
        send, receive = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        self._inbound: MemoryObjectSendStream[SessionMessage | Exception] = send
        self._receive = receive
        self._outbound = _SdkWriteStream(writer, answered_id)
        self.finished = anyio.Event()

    async def start(self, tasks: anyio.abc.TaskGroup, handshake: list[dict[str, Any]]) -> None:
        """Run the server in ``tasks`` and let it hear the handshake the adapter answered itself."""
        tasks.start_soon(self._serve)
        for message in handshake:
            await self.forward(message)

    async def _serve(self) -> None:
        try:
            await serve_loop(
                self.server,
                self._receive,
                self._outbound,
                lifespan_state={},
                init_options=initialization_options(self.server),
            )
        finally:
            self.finished.set()

    async def forward(self, data: object) -> None:
        """One parsed message to the server; one that is not JSON-RPC is answered here (JSON-RPC 2.0 5.1)."""
        try:
            message = types.jsonrpc_message_adapter.validate_python(data, by_name=False)
        except (ValidationError, RecursionError):
            log.warning("the client sent JSON that is not a JSON-RPC message: %.200r", data)
            request_id = data.get("id") if isinstance(data, dict) else None
            if isinstance(data, dict) and "id" not in data and isinstance(data.get("method"), str):
                return  # a malformed notification gets no answer
            valid_id = isinstance(request_id, str | int) and not isinstance(request_id, bool)
            await self.refuse(INVALID_REQUEST, "Invalid Request", request_id if valid_id else None)
            return
        await self._inbound.send(SessionMessage(message))

    async def aclose(self) -> None:
        """End of input: the server finishes what it is doing and returns."""
        await self._inbound.aclose()


class _SdkWriteStream:
    """The SDK's write stream: serialises each message as one line; drops one already-sent answer."""

    def __init__(self, writer: LineWriter, answered_id: object) -> None:
        self.writer = writer
        self._answered_id = answered_id

    async def send(self, item: SessionMessage, /) -> None:
        message = item.message
        answer = isinstance(message, types.JSONRPCResponse | types.JSONRPCError)
        if answer and self._answered_id is not None and message.id == self._answered_id:
            self._answered_id = None
            return
        try:
            data = message.model_dump_json(by_alias=True, exclude_unset=True).encode("utf-8") + b"\n"
        except PydanticSerializationError:
            # A lone surrogate echoed from the client's input: escape it (ASCII JSON) instead of failing.
            dumped = message.model_dump(by_alias=True, exclude_unset=True)
            data = json.dumps(dumped, ensure_ascii=True).encode("ascii") + b"\n"
        try:
            await self.writer.write(data)
        except TransportClosed as exc:
            raise anyio.BrokenResourceError(str(exc)) from exc

    async def aclose(self) -> None:
        return None

    async def __aenter__(self) -> "_SdkWriteStream":
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()
