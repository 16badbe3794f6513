"""The running adapter: the bus endpoint, the wire, channel pushes and tool calls, until shutdown.

Messages are answered by local.py; the MCP SDK server (sdk_bridge.py) is imported and started only
for a message local.py leaves to it. Shutdown paths, each within a second: stdin EOF ends the
transport's pump; SIGTERM, SIGINT or SIGHUP cancel the whole task group, and so does the client
closing our stdout. Either way the endpoint unregisters this peer before the process exits, and no
thread is left to keep it alive (stdin is read on the event loop, not in a worker thread).
"""

import logging
import signal
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import anyio

from agentbus.adapters.claude_mcp import protocol, pushmode
from agentbus.adapters.claude_mcp.local import LocalAnswers
from agentbus.adapters.claude_mcp.opening import Opening, StdioFds, stderr_line
from agentbus.adapters.claude_mcp.startup import Identity, Joined
from agentbus.adapters.claude_mcp.tools import ToolBox
from agentbus.adapters.claude_mcp.transport import LineWriter, StdioTransport
from agentbus.core.envelope import Envelope
from agentbus.core.errors import BusError
from agentbus.endpoint import Endpoint

if TYPE_CHECKING:
    from agentbus.adapters.claude_mcp.sdk_bridge import SdkServer

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
#: How long tool calls still running at stdin EOF may take to answer before the adapter exits.
EOF_GRACE_SECONDS = 0.5


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


async def _stop_on_signal(signals: AsyncIterator[int], scope: anyio.CancelScope) -> None:
    async for signum in signals:
        log.info("got %s; shutting down", signal.Signals(signum).name)
        scope.cancel()
        return


async def _serve_client(endpoint: Endpoint, identity: Identity, fds: StdioFds, opening: Opening) -> None:
    push_mode = pushmode.decide()
    log.info("push: %s (%s)", "on" if push_mode.push else "off", push_mode.reason)
    toolbox = ToolBox(endpoint, identity, push_mode)
    sdk: SdkServer | None = None

    async with anyio.create_task_group() as tasks:

        def initialized() -> None:
            # Push only once the client said it is ready: offline mail drains first, then live mail.
            if push_mode.push and not endpoint.can_push:
                endpoint.attach(delivery)

        async def handle(message: object) -> None:
            nonlocal sdk
            if await local.take(message):
                return
            if sdk is None:
                log.info("starting the MCP SDK server for a message not answered locally")
                from agentbus.adapters.claude_mcp.sdk_bridge import SdkServer

                sdk = SdkServer(toolbox, transport.writer, initialized, transport.refuse, opening.answered_id)
                local.sdk_running = True
                await sdk.start(tasks, local.handshake)
            await sdk.forward(message)

        transport = StdioTransport(fds, opening, handle)
        delivery = ChannelDelivery(transport.writer)
        async with anyio.create_task_group() as answers:
            local = LocalAnswers(toolbox, transport.writer, answers, initialized, opening.answered_id)
            await transport.open()

            async def stop_when_the_client_is_gone() -> None:
                # A client that closed our stdout cannot hear anything more, even if stdin stays open.
                await transport.writer.wait_gone()
                log.info("the client closed the adapter's stdout; shutting down")
                tasks.cancel_scope.cancel()

            tasks.start_soon(stop_when_the_client_is_gone)
            try:
                await transport.pump()
                # stdin EOF: answer the calls already read (briefly), let the SDK finish, then leave.
                answers.cancel_scope.deadline = anyio.current_time() + EOF_GRACE_SECONDS
                if sdk is not None:
                    await sdk.aclose()
                    with anyio.move_on_after(EOF_GRACE_SECONDS):
                        await sdk.finished.wait()
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
