"""The running adapter: the bus endpoint, the MCP low-level server and channel pushes, until shutdown.

Shutdown paths, each within a second: stdin EOF ends ``serve_loop``; SIGTERM, SIGINT or SIGHUP
cancel the whole task group. Either way the endpoint unregisters this peer before the process exits,
and no non-daemon thread is left behind (the bus is opened in a daemon thread, stdin is read on the
event loop).
"""

import asyncio
import contextlib
import logging
import os
import re
import signal
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.runner import serve_loop

from agentbus.adapters.claude_mcp import ADAPTER_ID, protocol, pushmode
from agentbus.adapters.claude_mcp.opening import Opening, StdioFds, stderr_line
from agentbus.adapters.claude_mcp.tools import TOOLS, Identity, ToolBox
from agentbus.adapters.claude_mcp.transport import LineWriter, StdioTransport
from agentbus.core.bus import Bus
from agentbus.core.config import Settings
from agentbus.core.envelope import Envelope
from agentbus.core.errors import BusError
from agentbus.core.names import sanitize_name
from agentbus.endpoint import Endpoint
from agentbus.triggers import make_trigger

log = logging.getLogger(__name__)

T = TypeVar("T")

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


def identity_from_env(raw: str | None) -> Identity:
    """AGENTBUS_NAME, sanitised; a missing or unusable one gets a generated ``agent-xxxx``."""
    return Identity(
        raw=raw,
        asked_for=sanitize_name(raw),
        generated=re.search(r"[a-z0-9_]", (raw or "").lower()) is None,
    )


async def in_daemon_thread(func: Callable[..., T], *args: object) -> T:
    """Run a blocking call in a daemon thread, so a stuck call cannot hold the process at exit."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():
            outcome()

    def work() -> None:
        try:
            value = func(*args)
        except BaseException as exc:
            error = exc
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, lambda: future.set_exception(error))
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, lambda: future.set_result(value))

    threading.Thread(target=work, name="agentbus-open", daemon=True).start()
    return await future


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
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


async def _session(settings: Settings, identity: Identity, fds: StdioFds, opening: Opening) -> int:
    try:
        trigger = make_trigger(settings)
    except ValueError as exc:
        stderr_line(f"bad configuration: {exc}")
        return 2
    try:
        bus = await in_daemon_thread(Bus, settings)
    except BusError as exc:
        stderr_line(str(exc))
        return 1
    failures: list[str] = []
    try:
        endpoint = Endpoint(bus, identity.asked_for, adapter=ADAPTER_ID, trigger=trigger)
        try:
            async with endpoint.running():
                await _serve_client(endpoint, identity, fds, opening)
        except* BusError as group:
            # Registration refused, or a bus failure the endpoint could not ride out.
            failures.extend(str(exc) for exc in _leaves(group))
    finally:
        bus.close()
    for failure in failures:
        stderr_line(failure)
    return 1 if failures else 0


def _leaves(group: BaseExceptionGroup[BusError]) -> list[BusError]:
    found: list[BusError] = []
    for exc in group.exceptions:
        found.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return found


async def serve(fds: StdioFds, opening: Opening) -> int:
    """Run until the client goes away or a stop signal arrives; the process exit code."""
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        stderr_line(f"bad configuration: {exc}")
        return 2
    identity = identity_from_env(os.environ.get("AGENTBUS_NAME"))
    exit_code = 0
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(_stop_on_signal, tasks.cancel_scope)
        exit_code = await _session(settings, identity, fds, opening)
        tasks.cancel_scope.cancel()
    return exit_code


def run(fds: StdioFds, opening: Opening) -> int:
    try:
        return anyio.run(serve, fds, opening)
    except KeyboardInterrupt:
        return 130
