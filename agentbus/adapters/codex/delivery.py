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

from agentbus.adapters.claude_mcp import wire
from agentbus.adapters.claude_mcp.app import ClientSession
from agentbus.adapters.claude_mcp.protocol import render_channel
from agentbus.adapters.claude_mcp.pushmode import PushMode
from agentbus.adapters.claude_mcp.transport import LineWriter
from agentbus.adapters.codex.appserver import AppServerClient, AppServerError
from agentbus.core.envelope import Envelope
from agentbus.core.ports import Handled

log = logging.getLogger(__name__)

NO_SOCKET = (
    "no Codex app-server to push through (AGENTBUS_CODEX_SOCKET is unset: start the session with "
    "agentbus launch codex NAME)"
)


def render_turn(envelope: Envelope) -> str:
    """The text of the user input: the channel tag a Claude Code model sees, then how to answer."""
    meta = envelope.meta()
    hint = f'(agentbus: reply with the send_message tool, to="{envelope.sender}", reply_to={meta["msg_id"]})'
    return f"{render_channel(envelope.body, meta)}\n{hint}"


def thread_of_call(params: wire.Params) -> str | None:
    """The thread a Codex ``tools/call`` comes from (``_meta.x-codex-turn-metadata.thread_id``)."""
    meta = (params or {}).get("_meta")
    turn = meta.get("x-codex-turn-metadata") if isinstance(meta, dict) else None
    thread = turn.get("thread_id") if isinstance(turn, dict) else None
    return thread if isinstance(thread, str) and thread else None


class TurnDelivery:
    """Delivery port for Codex: ``turn/start`` on the session's thread through its app-server."""

    def __init__(self, socket: Path, thread_id: str | None = None) -> None:
        self.client = AppServerClient(socket)
        #: The thread of this session: learned from its tool calls, else the app-server's loaded one.
        self.thread_id = thread_id

    async def deliver(self, envelope: Envelope) -> Handled:
        if not self.client.connected:
            await self.client.connect()
        thread = self.thread_id or await self._loaded_thread()
        params: dict[str, Any] = {"threadId": thread, "input": [{"type": "text", "text": render_turn(envelope)}]}
        result = await self.client.call("turn/start", params)
        turn = result.get("turn")
        log.debug(
            "message %d accepted by Codex in turn %s", envelope.id, turn.get("id") if isinstance(turn, dict) else "?"
        )
        return Handled.SHOWN

    async def _loaded_thread(self) -> str:
        loaded = (await self.client.call("thread/loaded/list")).get("data")
        threads = [thread for thread in loaded or [] if isinstance(thread, str)]
        if not threads:
            raise AppServerError("no Codex thread is loaded on the app-server yet")
        if len(threads) > 1:
            log.info("the app-server has %d threads; pushing to the first until a tool call names ours", len(threads))
        return threads[0]

    async def close(self) -> None:
        await self.client.close()


async def open_app_server(session: ClientSession, _writer: LineWriter) -> None:
    """The codex adapter's push opener: attach a TurnDelivery (AGENTBUS_CODEX_SOCKET), or stay pull only."""
    socket = session.endpoint.settings.codex_socket
    if not session.push_mode.push:
        return
    if socket is None:
        session.push_mode = session.toolbox.push_mode = PushMode(False, NO_SOCKET)
        log.info("push: off (%s)", NO_SOCKET)
        return
    delivery = TurnDelivery(socket)
    answer_tool_call = session.router.concurrent["tools/call"]

    async def call_tool(params: wire.Params) -> dict[str, Any]:
        thread = thread_of_call(params)
        if thread is not None and thread != delivery.thread_id:
            log.info("this session's Codex thread is %s", thread)
            delivery.thread_id = thread
        return await answer_tool_call(params)

    session.router.concurrent["tools/call"] = call_tool
    session.endpoint.attach(delivery, receipts=False)
    try:
        await anyio.sleep_forever()
    finally:
        with anyio.CancelScope(shield=True):
            await delivery.close()
