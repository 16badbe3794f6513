"""Delivery into a live Codex thread: each envelope becomes user input of that thread, proven by Codex's answer.

``turn/start`` is the one call: on an idle thread it starts a turn; while a turn runs, Codex 0.169.0
adds the input to that turn (it answers with the running turn's id, and the model's next request
carries the text: the same effect as ``turn/steer`` without its race against the turn's end; see
docs/codex.md and SPEC section 8b). The answer is the proof of delivery: an error, or a socket that
is gone, leaves the message pending and it is pushed again on the next wake or safety poll.
"""

import logging
from pathlib import Path
from typing import Any

import anyio

from agentbus.adapters import doors
from agentbus.adapters.claude_mcp import wire
from agentbus.adapters.claude_mcp.app import ClientSession
from agentbus.adapters.claude_mcp.protocol import render_input
from agentbus.adapters.claude_mcp.transport import LineWriter
from agentbus.adapters.codex.appserver import AppServerClient, AppServerError
from agentbus.adapters.codex.discovery import find_app_server
from agentbus.core.envelope import Envelope
from agentbus.core.ports import Handled

log = logging.getLogger(__name__)

#: The key of the ``_meta`` our ``tools/list`` answer carries: Codex keeps it per thread
#: (``mcpServerStatus/list`` ``toolListMeta``), which tells the adapter which thread is its own.
SESSION_META = "agentbus/session"
#: The server's name in Codex's config (``agentbus enable codex`` writes ``[mcp_servers.agentbus]``): with a
#: thread and a server name, ``mcpServerStatus/list`` reports that thread's own connection to it; without
#: the name it starts a fresh one for discovery (seen with 0.171.0), which is some other process.
LIST_OUR_SERVER = {"serverName": "agentbus", "detail": "toolsAndAuthOnly"}


def thread_of_call(params: wire.Params) -> str | None:
    """The thread a Codex ``tools/call`` comes from: ``_meta.x-codex-turn-metadata.thread_id`` (0.169.0 and
    later), else ``_meta.threadId`` (0.171.0 sends both)."""
    meta = (params or {}).get("_meta")
    if not isinstance(meta, dict):
        return None
    turn = meta.get("x-codex-turn-metadata")
    for thread in (turn.get("thread_id") if isinstance(turn, dict) else None, meta.get("threadId")):
        if isinstance(thread, str) and thread:
            return thread
    return None


class TurnDelivery:
    """Delivery port for Codex: ``turn/start`` on the session's thread through its app-server.

    ``session``: this adapter's session id, which its ``tools/list`` answer carries in ``_meta``.
    """

    def __init__(self, socket: Path, session: str = "", thread_id: str | None = None) -> None:
        self.client = AppServerClient(socket)
        self.session = session
        #: The thread of this session: named by its tool calls, else found by ``_own_thread``.
        self.thread_id = thread_id

    async def deliver(self, envelope: Envelope) -> Handled:
        if not self.client.connected:
            await self.client.connect()
        if self.thread_id is None:
            self.thread_id = await self._own_thread()
        thread = self.thread_id
        params: dict[str, Any] = {
            "threadId": thread,
            "input": [{"type": "text", "text": render_input(envelope.body, envelope.meta())}],
        }
        result = await self.client.call("turn/start", params)
        turn = result.get("turn")
        log.debug(
            "message %d accepted by Codex in turn %s", envelope.id, turn.get("id") if isinstance(turn, dict) else "?"
        )
        return Handled.SHOWN

    async def _own_thread(self) -> str:
        """The loaded thread whose MCP connection to us carries our session in ``toolListMeta`` (a daemon
        runs the threads of every ``codex`` of its user); the only one, if Codex does not say."""
        loaded = (await self.client.call("thread/loaded/list")).get("data")
        threads = [thread for thread in loaded or [] if isinstance(thread, str)]
        if not threads:
            raise AppServerError("no Codex thread is loaded on the app-server yet")
        for thread in threads:
            if await self._serves_us(thread):
                return thread
        if len(threads) == 1:
            return threads[0]
        raise AppServerError(f"none of the {len(threads)} threads on the app-server names this session yet")

    async def _serves_us(self, thread: str) -> bool:
        try:
            status = await self.client.call("mcpServerStatus/list", {"threadId": thread, **LIST_OUR_SERVER})
        except AppServerError as exc:
            log.debug("mcpServerStatus/list on thread %s: %s", thread, exc)
            return False
        servers = status.get("data")
        for server in servers if isinstance(servers, list) else []:
            meta = server.get("toolListMeta") if isinstance(server, dict) else None
            if isinstance(meta, dict) and meta.get(SESSION_META) == self.session:
                return True
        return False

    async def close(self) -> None:
        await self.client.close()


async def open_app_server(session: ClientSession, _writer: LineWriter) -> None:
    """The codex adapter's doors: attach a TurnDelivery on the app-server that runs this thread, or stay
    pull only (the plan says which, adapters/codex/discovery.py)."""
    if not session.plan.push:
        await session.endpoint.announce_door(doors.PULL)
        return
    found = find_app_server(session.endpoint.settings)
    assert found.socket is not None  # the plan opened the door because there is one
    delivery = TurnDelivery(found.socket, session.endpoint.session_id)
    answer_tool_call = session.router.concurrent["tools/call"]
    list_tools = session.router.inline["tools/list"]

    def tools_with_our_session(params: wire.Params) -> dict[str, Any]:
        return {**list_tools(params), "_meta": {SESSION_META: session.endpoint.session_id}}

    async def call_tool(params: wire.Params) -> dict[str, Any]:
        thread = thread_of_call(params)
        if thread is not None and thread != delivery.thread_id:
            log.info("this session's Codex thread is %s", thread)
            delivery.thread_id = thread
        return await answer_tool_call(params)

    session.router.inline["tools/list"] = tools_with_our_session
    session.router.concurrent["tools/call"] = call_tool
    session.endpoint.attach(delivery, receipts=False, door=doors.APP_SERVER)
    try:
        await anyio.sleep_forever()
    finally:
        with anyio.CancelScope(shield=True):
            await delivery.close()
