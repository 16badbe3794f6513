"""The running adapter: the bus endpoint, the wire, the doors pushes go through and tool calls, until shutdown.

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
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread

from agentbus.adapters import doors
from agentbus.adapters.claude_mcp import permission, protocol, transcript, wire
from agentbus.adapters.claude_mcp.native import NativeDoor
from agentbus.adapters.claude_mcp.opening import Opening, StdioFds, stderr_line
from agentbus.adapters.claude_mcp.router import Router
from agentbus.adapters.claude_mcp.startup import Identity, Joined
from agentbus.adapters.claude_mcp.tools import TOOLS, ToolBox
from agentbus.adapters.claude_mcp.transcript import TranscriptFollower
from agentbus.adapters.claude_mcp.transport import LineWriter, StdioTransport, TransportClosed
from agentbus.adapters.doors import DoorClosed
from agentbus.adapters.runtime import Runtime
from agentbus.core.envelope import Envelope
from agentbus.core.errors import BusError
from agentbus.core.ports import Delivery, Handled
from agentbus.endpoint import Endpoint

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
#: How long tool calls still running at stdin EOF may take to answer before the adapter exits.
EOF_GRACE_SECONDS = 0.5
#: Tool calls running at once; past this the reader waits, so a client flooding the adapter with
#: pipelined calls meets back-pressure on its pipe instead of growing the adapter's memory.
MAX_CALLS_IN_FLIGHT = 512
#: How often a session whose safety poll is off looks for a ``/clear`` (a new transcript).
DEFAULT_CLEAR_CHECK_SECONDS = 3.0
#: A Claude Code that says initialized but never lists tools still gets channel events, this much later.
TOOLS_LIST_GRACE_SECONDS = 1.0
#: The ``clientInfo.name`` of Claude Code, the client whose channel handler registers late (SPEC MCP-8).
CLAUDE_CODE_CLIENT = "claude-code"
INITIALIZED = "notifications/initialized"
TOOLS_LIST_RESULT: dict[str, Any] = {"tools": TOOLS}
#: A door: anything that hands one envelope to the client for its model (raises DoorClosed if it did not).
Door = Delivery


class ChannelDoor:
    """The channel door: one ``notifications/claude/channel`` per envelope, written straight to the wire.

    ``deliver`` returns once the line is in the stdout pipe and raises when the client is gone.
    """

    def __init__(self, writer: LineWriter) -> None:
        self.writer = writer

    async def deliver(self, envelope: Envelope) -> Handled:
        params = protocol.channel_params(envelope.body, envelope.meta())
        await self.writer.write(wire.notification_line(protocol.CHANNEL_METHOD, params))
        return Handled.SHOWN


class DoorDelivery:
    """Delivery port over the doors a session opened, best first: each message goes through the first
    door that takes it, never through two (a door that refuses raises DoorClosed, and the next is
    tried). With a permission relay, the approver's answer to an open request is written as the
    verdict notification instead (never shown to the model: CONSUMED).

    The endpoint marks a message pushed only after a door's write resolved, and leaves it pending when
    every open door refused it.
    """

    def __init__(self, writer: LineWriter, relay: permission.PermissionRelay | None = None) -> None:
        self.writer = writer
        self.relay = relay
        self.doors: list[tuple[str, Door]] = []

    def open(self, name: str, door: "Door") -> None:
        self.doors.append((name, door))

    async def deliver(self, envelope: Envelope) -> Handled | None:
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
        refused: DoorClosed | None = None
        for name, door in self.doors:
            try:
                return await door.deliver(envelope)
            except DoorClosed as exc:
                log.warning("the %s door did not take message %d: %s", name, envelope.id, exc)
                refused = exc
        raise refused or DoorClosed("no door is open")


class ClientSession:
    """One MCP client on stdio: routes its lines, runs its tool calls, opens the doors its plan names.

    ``plan``: the doors this session opens (adapters/doors.py). ``client``: the ``clientInfo.name`` of
    the client's ``initialize``, which the channel door's gate reads (SPEC MCP-8).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        identity: Identity,
        router: Router,
        tasks: anyio.abc.TaskGroup,
        plan: doors.Plan,
        relay: permission.PermissionRelay | None = None,
        client: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.router = router
        self.tasks = tasks
        self.relay = relay
        self.plan = plan
        self.client = client
        log.info("doors: %s (%s)", ", ".join(plan.doors) or doors.PULL, plan.reason)
        self.toolbox = ToolBox(endpoint, identity, plan, transcript.locate(os.environ))
        self.follower: TranscriptFollower | None = None
        self.native: NativeDoor | None = None
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

    async def open_claude_doors(self, writer: LineWriter) -> None:
        """Open the plan's doors: the native door at once (Claude Code keeps a write made even before the
        session is ready), the channel once the client can hear it (MCP-8). With a transcript to read,
        receipts are on; what it already shows (a restarted adapter) is stamped first, so none of it is
        pushed again, and the transcript is followed across ``/clear`` until the session ends."""
        if not self.plan.push:
            await self.endpoint.announce_door(doors.PULL)
            return
        delivery = DoorDelivery(writer, self.relay)
        receipts = await self.follow_transcript()
        socket = doors.native_socket(os.environ)
        if doors.NATIVE in self.plan.doors and socket is not None:
            self.native = NativeDoor(socket)
            delivery.open(doors.NATIVE, self.native)
            self.endpoint.attach(delivery, receipts=receipts, door=doors.NATIVE)
        if doors.CHANNEL in self.plan.doors:
            await self.channel_heard()
            delivery.open(doors.CHANNEL, ChannelDoor(writer))
            if not self.endpoint.can_push:
                self.endpoint.attach(delivery, receipts=receipts, door=doors.CHANNEL)
        if receipts:
            await self._follow_clears()

    async def channel_heard(self) -> None:
        """The channel door's gate (SPEC MCP-8): after ``notifications/initialized``; for Claude Code,
        which registers its channel handler only after it has the ``tools/list`` answer (20-400 ms
        later) and drops earlier events, also after that answer (or a second without one) and the
        settle time."""
        await self._initialized.wait()
        if self.client != CLAUDE_CODE_CLIENT:
            return
        with anyio.move_on_after(TOOLS_LIST_GRACE_SECONDS):
            await self._tools_listed.wait()
        await anyio.sleep(self.settle_seconds)

    async def follow_transcript(self) -> bool:
        """Start reading this session's transcript for receipts; whether receipts are on."""
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
        return receipts

    async def _follow_clears(self) -> None:
        """A ``/clear`` gives the session a new id and transcript while this adapter runs on: look for it
        at the safety poll's pace (before a push's receipt grace runs out), and follow the new file."""
        period = self.endpoint.settings.safety_poll_seconds or DEFAULT_CLEAR_CHECK_SECONDS
        while self.follower is not None:
            await anyio.sleep(period)
            found = transcript.locate(os.environ)
            if found.path is not None and found.path != self.follower.path:
                log.info("the session's transcript is now %s", found.path)
                self.toolbox.transcript = found
                self.follower.retarget(found.path)

    def close(self) -> None:
        if self.follower is not None:
            self.follower.close()
        if self.native is not None:
            self.native.close()

    async def handle(self, line: bytes | wire.Refusal, writer: LineWriter) -> None:
        incoming = line if isinstance(line, wire.Refusal) else wire.classify(line)
        if isinstance(incoming, wire.Request):
            if self.router.is_concurrent(incoming):
                try:  # no checkpoint while a slot is free: a chunk of pipelined calls starts in one pass
                    self._call_slots.acquire_nowait()
                except anyio.WouldBlock:
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


async def _serve_client(
    endpoint: Endpoint,
    identity: Identity,
    fds: StdioFds,
    opening: Opening,
    router: Router,
    approver: str | None,
    runtime: Runtime,
) -> None:
    relay = permission.PermissionRelay(approver) if approver is not None else None
    plan = runtime.plan(endpoint.settings)
    async with anyio.create_task_group() as tasks:
        async with anyio.create_task_group() as answers:
            session = ClientSession(endpoint, identity, router, answers, plan, relay, opening.client)
            transport = StdioTransport(fds, opening, lambda line: session.handle(line, transport.writer))
            await transport.open()
            tasks.start_soon(runtime.open, session, transport.writer)

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
    joined: Joined, fds: StdioFds, opening: Opening, router: Router, approver: str | None, runtime: Runtime
) -> int:
    failures: list[str] = []
    try:
        async with joined.endpoint.running():
            await _serve_client(joined.endpoint, joined.identity, fds, opening, router, approver, runtime)
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
    runtime: Runtime,
    approver: str | None = None,
) -> int:
    """Run until the client goes away or a stop signal arrives; the process exit code.

    The signal handlers stay installed until the endpoint has unregistered, so a second SIGTERM
    (a process group signal plus a forwarded one, say) cannot kill the process half way.
    """
    exit_code = 0
    with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_stop_on_signal, signals, tasks.cancel_scope)
            exit_code = await _session(joined, fds, opening, router, approver, runtime)
            tasks.cancel_scope.cancel()
    return exit_code


def run(
    fds: StdioFds,
    opening: Opening,
    joined: Joined,
    router: Router,
    runtime: Runtime,
    approver: str | None = None,
) -> int:
    """Serve the session; ``runtime``: its doors (adapters/runtime.py); ``approver``: the peer this
    session's permission prompts are relayed to, if any."""
    return anyio.run(serve, fds, opening, joined, router, runtime, approver)
