"""The hook door: this session's mail handed to Gemini CLI at its boundaries, through the hook command it runs.

Gemini runs ``agentbus.adapters.gemini.hook`` after every tool call (AfterTool), when a prompt is
submitted (BeforeAgent), at the end of each turn (AfterAgent) and when a session starts
(SessionStart). The hook connects to the socket this adapter opens (named after the Gemini
process's pid, hook.py) and says which event it is. The adapter claims what is pending for this
peer and answers with the JSON Gemini takes from that event's hook:

- AfterTool, BeforeAgent, SessionStart: ``hookSpecificOutput.additionalContext``, which Gemini
  appends to the tool's result (mid-turn, before the model's next step), to the submitted prompt,
  or puts first in the session's history;
- AfterAgent: ``decision: "deny"`` with the mail as ``reason``, which Gemini sends the model as a
  new prompt: the session takes another turn for it at once.

The messages are stamped delivered (pushed) once the hook says it printed its answer; a hook that
fails, times out or dies first gives them back, pending, for the next boundary (at least once,
DELIV-3). The text of each is the same ``<channel source="agentbus" ...>`` tag and reply line the
other doors give, so replies and threading read the same. Nothing reaches an idle session: Gemini
runs no hook while it waits for its user (SPEC section 8c).
"""

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from agentbus.adapters import doors
from agentbus.adapters.claude_mcp.app import ClientSession
from agentbus.adapters.claude_mcp.protocol import render_input
from agentbus.adapters.claude_mcp.transport import LineWriter
from agentbus.adapters.gemini.hook import socket_path
from agentbus.core.envelope import Envelope

log = logging.getLogger(__name__)

#: Most messages one boundary carries; the rest go at the next one.
MESSAGES_PER_BOUNDARY = 20
#: A hook that has not said what it is, or not confirmed its answer, within this is given up on.
HOOK_TIMEOUT_SECONDS = 5.0
#: Events whose answer carries mail as additional context (the rest of EVENTS: AfterAgent).
CONTEXT_EVENTS = ("SessionStart", "BeforeAgent", "AfterTool")
AFTER_AGENT = "AfterAgent"


def render_mail(batch: list[Envelope]) -> str:
    """The messages of one boundary, in order, as the model reads them."""
    return "\n\n".join(render_input(envelope.body, envelope.meta()) for envelope in batch)


def hook_answer(event: str, batch: list[Envelope]) -> dict[str, Any]:
    """What the hook prints for Gemini at ``event`` to hand it ``batch`` (``{}``: nothing to say)."""
    if not batch:
        return {}
    text = render_mail(batch)
    if event == AFTER_AGENT:
        return {"decision": "deny", "reason": text}
    return {"hookSpecificOutput": {"hookEventName": event, "additionalContext": text}}


class HookDoor:
    """The socket the session's hooks ask at each boundary; ``hand_over`` is the endpoint's (claim, hand,
    then stamp delivered or give back)."""

    def __init__(self, path: Path, hand_over: Callable[[Callable[[list[Envelope]], Awaitable[bool]]], Awaitable[int]]):
        self.path = path
        self.hand_over = hand_over
        self.boundaries = 0
        self._server: asyncio.AbstractServer | None = None

    async def open(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # left by a process with our parent's pid that was killed
        self._server = await asyncio.start_unix_server(self._on_hook, path=str(self.path))
        os.chmod(self.path, 0o600)  # the mail of this session is its user's alone

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _on_hook(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = json.loads(await asyncio.wait_for(reader.readline(), HOOK_TIMEOUT_SECONDS))
            event = str(request.get("hook_event_name") or "")
            self.boundaries += 1

            async def hand(batch: list[Envelope]) -> bool:
                answer = {"answer": hook_answer(event, batch), "ids": [envelope.id for envelope in batch]}
                writer.write((json.dumps(answer) + "\n").encode())
                await writer.drain()
                if not batch:
                    return True
                confirmed = await asyncio.wait_for(reader.readline(), HOOK_TIMEOUT_SECONDS)
                printed = bool(confirmed) and json.loads(confirmed).get("printed") is True
                if printed:
                    log.debug("%s took message(s) %s", event, answer["ids"])
                return printed

            await self.hand_over(hand)
        except (TimeoutError, OSError, ValueError, AttributeError) as exc:
            log.warning("a Gemini hook went away without its mail: %s", exc)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def open_hook_door(session: ClientSession, _writer: LineWriter) -> None:
    """The gemini adapter's door: a HookDoor for this Gemini process, or pull only (the plan says which)."""
    endpoint = session.endpoint
    if not session.plan.push:
        await endpoint.announce_door(doors.PULL)
        return
    door = HookDoor(
        socket_path(endpoint.settings.home, endpoint.settings.gemini_pid or os.getppid()),
        lambda hand: endpoint.hand_over(hand, limit=MESSAGES_PER_BOUNDARY),
    )
    await door.open()
    try:
        await endpoint.open_boundary(doors.HOOK)
        await anyio.sleep_forever()
    finally:
        with anyio.CancelScope(shield=True):
            await door.close()
