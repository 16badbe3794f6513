"""The running adapter: the bus endpoint, the wire, channel pushes and tool calls, until shutdown.

Every line from the client is classified by wire.py and answered through the router (protocol.py's
handlers plus the tool handlers added here); nothing is left to another server. Shutdown paths,
each well inside Claude Code's 100 ms between SIGINT and SIGTERM: stdin EOF ends the transport's
pump; SIGTERM, SIGINT or SIGHUP cancel the whole task group, and so does the client closing our
stdout. Either way the peer is unregistered before the process exits, and no thread is left to keep
it alive (stdin is read on the event loop, not in a worker thread).
"""

import logging
import os
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread

from agentbus.adapters.claude_mcp import permission, protocol, pushmode, transcript, wire
from agentbus.adapters.claude_mcp.opening import Opening, StdioFds, stderr_line
from agentbus.adapters.claude_mcp.router import Router
from agentbus.adapters.claude_mcp.startup import Identity, Joined
from agentbus.adapters.claude_mcp.tools import TOOLS, ToolBox
from agentbus.adapters.claude_mcp.transcript import TranscriptFollower
from agentbus.adapters.claude_mcp.transport import LineWriter, StdioTransport, TransportClosed
from agentbus.core.envelope import Envelope
from agentbus.core.errors import BusError
from agentbus.core.ports import Handled
from agentbus.endpoint import Endpoint

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
#: How long tool calls still running at stdin EOF may take to answer before the adapter exits.
EOF_GRACE_SECONDS = 0.5
#: Tool calls running at once; past this the reader waits, so a client flooding the adapter with
#: pipelined calls meets back-pressure on its pipe instead of growing the adapter's memory.
MAX_CALLS_IN_FLIGHT = 512
#: A client that says initialized but never lists tools still gets pushes, this much later.
TOOLS_LIST_GRACE_SECONDS = 1.0
INITIALIZED = "notifications/initialized"
TOOLS_LIST_RESULT: dict[str, Any] = {"tools": TOOLS}


class ChannelDelivery:
    """Delivery port: one ``notifications/claude/channel`` per envelope, written straight to the wire.

    ``deliver`` returns once the line is in the stdout pipe and raises when the client is gone, so
    the endpoint marks a message delivered only after a write that resolved. With a permission
    relay, the approver's answer to an open request is written as the verdict notification instead
    (never shown to the model: CONSUMED).
    """

    def __init__(self, writer: LineWriter, relay: permission.PermissionRelay | None = None) -> None:
        self.writer = writer
        self.relay = relay

    async def deliver(self, envelope: Envelope) -> Handled:
        verdict = self.relay.take_verdict(envelope.sender, envelope.body) if self.relay is not None else None
        if verdict is not None:
            await self.writer.write(wire.notification_line(permission.VERDICT_METHOD, verdict.params()))
            log.info(
                "permission %s: %s by %s (message %d)",
                verdict.request_id,
                verdict.params()["behavior"],
                envelope.sender,
                envelope.id,
            )
            return Handled.CONSUMED
        params = protocol.channel_params(envelope.body, envelope.meta())
        await self.writer.write(wire.notification_line(protocol.CHANNEL_METHOD, params))
        return Handled.SHOWN


class ClientSession:
    """One MCP client on stdio: routes its lines, runs its tool calls, opens the channel when it can hear.

    Claude Code registers its channel handler only after it has the ``tools/list`` answer (20-400 ms
    later, SPEC MCP-9) and silently drops events that arrive sooner. So pushing starts
    ``push_settle_seconds`` after that answer (and after ``notifications/initialized``).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        identity: Identity,
        router: Router,
        tasks: anyio.abc.TaskGroup,
        relay: permission.PermissionRelay | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.router = router
        self.tasks = tasks
        self.relay = relay
        self.push_mode = pushmode.decide(endpoint.settings.push)
        log.info("push: %s (%s)", "on" if self.push_mode.push else "off", self.push_mode.reason)
        self.toolbox = ToolBox(endpoint, identity, self.push_mode, transcript.locate(os.environ))
        self.follower: TranscriptFollower | None = None
        self.settle_seconds = endpoint.settings.push_settle_seconds
        self._initialized = anyio.Event()
        self._tools_listed = anyio.Event()
        self._call_slots = anyio.Semaphore(MAX_CALLS_IN_FLIGHT)
        router.inline["tools/list"] = self._list_tools
        router.concurrent["tools/call"] = self._call_tool
        router.notifications[INITIALIZED] = lambda _params: self._initialized.set()
        if relay is not None:
            router.notifications[permission.REQUEST_METHOD] = self._on_permission_request

    def _on_permission_request(self, params: wire.Params) -> None:
        assert self.relay is not None
        try:
            request = self.relay.open(params)
        except permission.BadPermissionRequest as exc:
            log.warning("ignored a permission request: %s", exc)
            return
        self.tasks.start_soon(self._relay_request, request)

    async def _relay_request(self, request: permission.PermissionRequest) -> None:
        assert self.relay is not None
        try:
            sent = await self.endpoint.send(self.relay.approver, request.message(self.endpoint.name))
        except BusError as exc:
            log.warning("could not relay permission request %s to %s: %s", request.request_id, self.relay.approver, exc)
            return
        log.info(
            "permission request %s (%s) relayed to %s as message %s",
            request.request_id,
            request.tool_name,
            self.relay.approver,
            sent.ids[0] if sent.ids else "-",
        )

    def _list_tools(self, _params: wire.Params) -> dict[str, Any]:
        self._tools_listed.set()
        return TOOLS_LIST_RESULT

    async def _call_tool(self, params: wire.Params) -> dict[str, Any]:
        # _meta (Claude Code sends claudecode/toolUseId and a progressToken) needs nothing from us:
        # a progress token allows progress notifications, and sending none is correct MCP.
        name = (params or {}).get("name")
        arguments = (params or {}).get("arguments")
        if not isinstance(name, str):
            raise wire.RpcError(wire.INVALID_PARAMS, "Invalid params: tools/call needs a string name")
        if arguments is not None and not isinstance(arguments, dict):
            raise wire.RpcError(wire.INVALID_PARAMS, "Invalid params: tools/call arguments must be an object")
        return await self.toolbox.call(name, arguments)

    async def open_channel_when_heard(self, delivery: ChannelDelivery) -> None:
        """Attach the delivery once the client can hear pushes (never before the tools/list answer).

        With a transcript to read, receipts are on: what this session's transcript already shows
        (a restarted adapter) is stamped first, so none of it is pushed again.
        """
        await self._initialized.wait()
        with anyio.move_on_after(TOOLS_LIST_GRACE_SECONDS):
            await self._tools_listed.wait()
        await anyio.sleep(self.settle_seconds)
        if not self.push_mode.push or self.endpoint.can_push:
            return
        receipts = False
        if self.toolbox.transcript.path is not None:
            follower = TranscriptFollower(self.toolbox.transcript.path, self.endpoint.confirm_now)
            try:
                await anyio.to_thread.run_sync(follower.check)  # what a restarted session already shows
                follower.follow()  # on this loop: a change arrives here, with no thread in between
            except OSError as exc:
                self.toolbox.transcript = transcript.Location(None, f"cannot follow the transcript: {exc}")
            else:
                self.follower = follower
                self.endpoint.poll_hooks.append(follower.check)
                receipts = True
        log.info("receipts: %s (%s)", "on" if receipts else "off", self.toolbox.transcript.reason)
        self.endpoint.attach(delivery, receipts=receipts)

    def close(self) -> None:
        if self.follower is not None:
            self.follower.close()

    async def handle(self, line: bytes | wire.Refusal, writer: LineWriter) -> None:
        incoming = line if isinstance(line, wire.Refusal) else wire.classify(line)
        if isinstance(incoming, wire.Request):
            if self.router.is_concurrent(incoming):
                await self._call_slots.acquire()
                self.tasks.start_soon(self._answer_concurrently, incoming, writer)
            else:
                await _write_answer(writer, self.router.answer_inline(incoming))
        elif isinstance(incoming, wire.Notification):
            self.router.notify(incoming)
        elif isinstance(incoming, wire.Refusal):
            log.warning("refused a line from the client: %s", incoming.message)
            await _write_answer(writer, wire.refusal_line(incoming))
        else:
            log.debug("ignored a line from the client: %s", incoming.why)

    async def _answer_concurrently(self, request: wire.Request, writer: LineWriter) -> None:
        try:
            await _write_answer(writer, await self.router.answer_concurrent(request))
        finally:
            self._call_slots.release()


async def _write_answer(writer: LineWriter, line: bytes) -> None:
    try:
        await writer.write(line)
    except TransportClosed:
        log.debug("the client left before an answer could be written")


async def _stop_on_signal(signals: AsyncIterator[int], scope: anyio.CancelScope) -> None:
    async for signum in signals:
        log.info("got %s; shutting down", signal.Signals(signum).name)
        scope.cancel()
        return


#: How a runtime's pushes start: attach a Delivery to ``session.endpoint`` once its client can hear.
#: Claude Code's is the channel on the wire (``open_channel``); Codex's is its app-server (adapters/codex).
PushOpener = Callable[["ClientSession", LineWriter], Coroutine[Any, Any, None]]


async def open_channel(session: ClientSession, writer: LineWriter) -> None:
    """Claude Code: ``notifications/claude/channel`` on the MCP wire, once the client listens (MCP-8)."""
    await session.open_channel_when_heard(ChannelDelivery(writer, session.relay))


async def _serve_client(
    endpoint: Endpoint,
    identity: Identity,
    fds: StdioFds,
    opening: Opening,
    router: Router,
    approver: str | None,
    push: PushOpener,
) -> None:
    relay = permission.PermissionRelay(approver) if approver is not None else None
    async with anyio.create_task_group() as tasks:
        async with anyio.create_task_group() as answers:
            session = ClientSession(endpoint, identity, router, answers, relay)
            transport = StdioTransport(fds, opening, lambda line: session.handle(line, transport.writer))
            await transport.open()
            tasks.start_soon(push, session, transport.writer)

            async def stop_when_the_client_is_gone() -> None:
                # A client that closed our stdout cannot hear anything more, even if stdin stays open.
                await transport.writer.wait_gone()
                log.info("the client closed the adapter's stdout; shutting down")
                tasks.cancel_scope.cancel()

            tasks.start_soon(stop_when_the_client_is_gone)
            try:
                await transport.pump()
                # stdin EOF: answer the calls already read (briefly), then leave.
                answers.cancel_scope.deadline = anyio.current_time() + EOF_GRACE_SECONDS
            finally:
                endpoint.detach()
                session.close()
        transport.close()
        tasks.cancel_scope.cancel()


async def _session(
    joined: Joined, fds: StdioFds, opening: Opening, router: Router, approver: str | None, push: PushOpener
) -> int:
    failures: list[str] = []
    try:
        async with joined.endpoint.running():
            await _serve_client(joined.endpoint, joined.identity, fds, opening, router, approver, push)
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


async def serve(
    fds: StdioFds,
    opening: Opening,
    joined: Joined,
    router: Router,
    approver: str | None = None,
    push: PushOpener = open_channel,
) -> int:
    """Run until the client goes away or a stop signal arrives; the process exit code.

    The signal handlers stay installed until the endpoint has unregistered, so a second SIGTERM
    (a process group signal plus a forwarded one, say) cannot kill the process half way.
    """
    exit_code = 0
    with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_stop_on_signal, signals, tasks.cancel_scope)
            exit_code = await _session(joined, fds, opening, router, approver, push)
            tasks.cancel_scope.cancel()
    return exit_code


def run(
    fds: StdioFds,
    opening: Opening,
    joined: Joined,
    router: Router,
    approver: str | None = None,
    push: PushOpener = open_channel,
) -> int:
    """Serve the session; ``approver``: the peer this session's permission prompts are relayed to, if any;
    ``push``: how pushes reach this runtime's model."""
    return anyio.run(serve, fds, opening, joined, router, approver, push)
