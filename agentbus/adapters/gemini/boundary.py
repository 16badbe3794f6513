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

The messages are stamped pushed once the hook says it printed its answer; a hook that fails, times
out or dies first gives them back, pending, for the next boundary (at least once, DELIV-3). Every
hook names the session's chat record (``transcript_path``): from the first one on, the adapter
follows it (record.py) and stamps each message received and seen when the record shows it, and
delivered then; one the record does not show within the receipt grace is handed over again at a
later boundary (RCPT-3). A hook that names no record (not Gemini's) leaves receipts off: delivered
once printed. The text of each is the same ``<channel source="agentbus" ...>`` tag and reply line the
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
from agentbus.adapters.claude_mcp.transcript import Location, TranscriptFollower
from agentbus.adapters.claude_mcp.transport import LineWriter
from agentbus.adapters.gemini.hook import socket_path
from agentbus.adapters.gemini.record import ChatRecord
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
    then stamp delivered or give back); ``on_record`` is told the chat record each hook names."""

    def __init__(
        self,
        path: Path,
        hand_over: Callable[[Callable[[list[Envelope]], Awaitable[bool]]], Awaitable[int]],
        on_record: Callable[[Path], Awaitable[None]] | None = None,
    ):
        self.path = path
        self.hand_over = hand_over
        self.on_record = on_record
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
            record = request.get("transcript_path")
            if self.on_record is not None and isinstance(record, str) and record:
                await self.on_record(Path(record))  # read what it shows before claiming (RCPT-4)

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
    receipts = Receipts(session)
    door = HookDoor(
        socket_path(endpoint.settings.home, endpoint.settings.gemini_pid or os.getppid()),
        lambda hand: endpoint.hand_over(hand, limit=MESSAGES_PER_BOUNDARY),
        receipts.follow,
    )
    await door.open()
    try:
        await endpoint.open_boundary(doors.HOOK)
        await anyio.sleep_forever()
    finally:
        with anyio.CancelScope(shield=True):
            await door.close()
            receipts.close()


class Receipts:
    """The session's chat record, followed from the first hook that names it: receipts on from then."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session
        self.follower: TranscriptFollower | None = None
        session.toolbox.transcript = Location(None, "Gemini CLI names its chat record to the session's hooks: none yet")

    async def follow(self, path: Path) -> None:
        """Called at every boundary with the record its hook named: read what is new (follow it first)."""
        if self.follower is not None and self.follower.path == path:
            self.follower.check()
            return
        if self.follower is not None:
            log.info("the session's chat record is now %s", path)
            self.follower.retarget(path)
        else:
            endpoint = self.session.endpoint
            self.follower = TranscriptFollower(path, endpoint.confirm_now, ChatRecord())
            self.follower.check()  # what a restarted adapter's session already shows (RCPT-4)
            self.follower.follow()
            endpoint.poll_hooks.append(self.follower.check)
            endpoint.receipts = True
            await endpoint.announce()
        self.session.toolbox.transcript = Location(path, f"Gemini CLI's chat record {path}")
        log.info("receipts: on (Gemini CLI's chat record %s)", path)

    def close(self) -> None:
        if self.follower is not None:
            self.follower.close()
