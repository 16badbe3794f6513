"""The running adapter: the bus endpoint, the MCP low-level server and channel pushes, until shutdown.

Shutdown paths, each within a second: stdin EOF ends ``serve_loop``; SIGTERM, SIGINT or SIGHUP
cancel the whole task group, and so does the client closing our stdout. Either way the endpoint
unregisters this peer before the process exits, and no thread is left to keep it alive (stdin is
read on the event loop, not in a worker thread).
"""

import logging
import signal
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.runner import serve_loop

from agentbus.adapters.claude_mcp import protocol, pushmode
from agentbus.adapters.claude_mcp.opening import Opening, StdioFds, stderr_line
from agentbus.adapters.claude_mcp.startup import Identity, Joined
from agentbus.adapters.claude_mcp.tools import TOOLS, ToolBox
from agentbus.adapters.claude_mcp.transport import LineWriter, StdioTransport
from agentbus.core.envelope import Envelope
from agentbus.core.errors import BusError
from agentbus.endpoint import Endpoint

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_TOOL_MODELS = [types.Tool.model_validate(tool) for tool in TOOLS]


class ChannelDelivery:
    """Delivery port: one ``notifications/claude/channel`` per envelope, written straight to the wire.

    ``deliver`` returns once the line is in the stdout pipe and raises when the client is gone, so
    the endpoint marks a message delivered only after a write that resolved. (The SDK's notify is
    fire-and-forget: it logs and swallows a failed write, which would mark a lost message delivered.)
    """

    def __init__(self, writer: LineWriter) -> None:
        self.writer = writer

    async def deliver(self, envelope: Envelope) -> None:
        await self.writer.write(protocol.channel_line(envelope.body, envelope.meta()))


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


async def _stop_on_signal(signals: AsyncIterator[int], scope: anyio.CancelScope) -> None:
    async for signum in signals:
        log.info("got %s; shutting down", signal.Signals(signum).name)
        scope.cancel()
        return


async def _serve_client(endpoint: Endpoint, identity: Identity, fds: StdioFds, opening: Opening) -> None:
    push_mode = pushmode.decide()
    log.info("push: %s (%s)", "on" if push_mode.push else "off", push_mode.reason)
    toolbox = ToolBox(endpoint, identity, push_mode)
    async with anyio.create_task_group() as tasks:
        transport = StdioTransport(fds, opening)
        delivery = ChannelDelivery(transport.writer)

        def initialized() -> None:
            # Push only once the client said it is ready: offline mail drains first, then live mail.
            if push_mode.push:
                endpoint.attach(delivery)

        server = build_server(toolbox, initialized)
        await transport.start(tasks)

        async def stop_when_the_client_is_gone() -> None:
            # A client that closed our stdout cannot hear anything more, even if stdin stays open.
            await transport.writer.wait_gone()
            log.info("the client closed the adapter's stdout; shutting down")
            tasks.cancel_scope.cancel()

        tasks.start_soon(stop_when_the_client_is_gone)
        try:
            await serve_loop(
                server,
                transport.read_stream,
                transport.write_stream,
                lifespan_state={},
                init_options=initialization_options(server),
            )
        finally:
            endpoint.detach()
            transport.close()
            tasks.cancel_scope.cancel()


async def _session(joined: Joined, fds: StdioFds, opening: Opening) -> int:
    failures: list[str] = []
    try:
        async with joined.endpoint.running():
            await _serve_client(joined.endpoint, joined.identity, fds, opening)
    except* BusError as group:
        # A bus failure the endpoint could not ride out: say it in one line, exit non-zero.
        failures.extend(str(exc) for exc in _leaves(group))
    for failure in failures:
        stderr_line(failure)
    return 1 if failures else 0


def _leaves(group: BaseExceptionGroup[BusError]) -> list[BusError]:
    found: list[BusError] = []
    for exc in group.exceptions:
        found.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return found


async def serve(fds: StdioFds, opening: Opening, joined: Joined) -> int:
    """Run until the client goes away or a stop signal arrives; the process exit code.

    The signal handlers stay installed until the endpoint has unregistered, so a second SIGTERM
    (a process group signal plus a forwarded one, say) cannot kill the process half way.
    """
    exit_code = 0
    with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_stop_on_signal, signals, tasks.cancel_scope)
            exit_code = await _session(joined, fds, opening)
            tasks.cancel_scope.cancel()
    return exit_code


def run(fds: StdioFds, opening: Opening, joined: Joined) -> int:
    return anyio.run(serve, fds, opening, joined)
