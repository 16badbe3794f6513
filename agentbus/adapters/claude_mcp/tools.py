"""The MCP tools of the adapter: definitions (names, descriptions, schemas) and their handlers.

Every handler returns a ``tools/call`` result as a plain dict. A refusal (a BusError, or arguments
of the wrong shape) is a tool error, ``isError: true`` with one sentence, never a JSON-RPC error.
"""

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio.to_thread

from agentbus.adapters.claude_mcp.protocol import render_channel
from agentbus.adapters.claude_mcp.startup import Identity
from agentbus.adapters.claude_mcp.transcript import Location
from agentbus.adapters.doors import PULL, Plan
from agentbus.core.bus import Peer, Receipt
from agentbus.core.envelope import iso_utc
from agentbus.core.errors import BusError, UnknownMessage
from agentbus.core.names import BROADCAST
from agentbus.endpoint import Endpoint

log = logging.getLogger(__name__)

READ_LIMIT_DEFAULT = 50
READ_LIMIT_MAX = 100

_NAME_RULE = "1-32 characters from a-z, 0-9, '_' and '-'"


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


TOOLS: list[dict[str, Any]] = [
    {
        "name": "send_message",
        "description": (
            "Send a message to another agent session (a peer) on agentbus, or reply to a message from one. "
            'To reply to <channel source="agentbus" from="bob" msg_id="42">, use to="bob", reply_to=42. '
            "A peer that is offline gets the message when it starts."
        ),
        "inputSchema": _object(
            {
                "to": {
                    "type": "string",
                    "description": f"Name of the peer ({_NAME_RULE}): the from attribute of the message you answer.",
                },
                "text": {"type": "string", "description": "The message text."},
                "reply_to": {
                    "type": "integer",
                    "description": "Optional: the msg_id of the message this replies to.",
                },
            },
            ["to", "text"],
        ),
        "annotations": {"title": "Send or reply to an agentbus peer", "openWorldHint": False},
    },
    {
        "name": "broadcast",
        "description": (
            "Send one message to every other agent session (peer) online on agentbus. "
            "To reply to a single peer use send_message instead."
        ),
        "inputSchema": _object({"text": {"type": "string", "description": "The message text."}}, ["text"]),
        "annotations": {"title": "Broadcast to all agentbus peers", "openWorldHint": False},
    },
    {
        "name": "list_peers",
        "description": (
            "List the agent sessions (peers) online on agentbus: the names to send_message or reply to, "
            "whether each receives messages by push or only by pull, and which one is you."
        ),
        "inputSchema": _object({}, []),
        "annotations": {"title": "List agentbus peers", "readOnlyHint": True, "openWorldHint": False},
    },
    {
        "name": "whoami",
        "description": (
            "Show this session's own name on agentbus (the name peers send to and reply to) "
            "and whether messages reach it by push."
        ),
        "inputSchema": _object({}, []),
        "annotations": {"title": "Your agentbus name", "readOnlyHint": True, "openWorldHint": False},
    },
    {
        "name": "set_name",
        "description": (
            "Change this session's name on agentbus; peers then send to and reply to the new name. "
            "Messages waiting for the old name follow. Refused if a live peer holds the name."
        ),
        "inputSchema": _object(
            {"name": {"type": "string", "description": f"The new name ({_NAME_RULE})."}},
            ["name"],
        ),
        "annotations": {"title": "Rename this agentbus peer", "openWorldHint": False},
    },
    {
        "name": "message_status",
        "description": (
            "Ask agentbus where a message you sent (or received) is: queued, pushed, received by the peer's "
            "Claude Code, seen by its model, or answered. Use the msg_id that send_message returned."
        ),
        "inputSchema": _object(
            {"msg_id": {"type": "integer", "description": "The msg_id of the message (send_message returns it)."}},
            ["msg_id"],
        ),
        "annotations": {"title": "Status of an agentbus message", "readOnlyHint": True, "openWorldHint": False},
    },
    {
        "name": "read_messages",
        "description": (
            "Fetch the agentbus messages waiting for this session (pull), in the same "
            '<channel source="agentbus" ...> form as pushed ones, and mark them read. Use it when messages '
            "from peers do not arrive by themselves (a session started without channels); reply with send_message."
        ),
        "inputSchema": _object(
            {
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": READ_LIMIT_MAX,
                    "description": f"Most messages to return (default {READ_LIMIT_DEFAULT}).",
                }
            },
            [],
        ),
        "annotations": {"title": "Read agentbus messages", "openWorldHint": False},
    },
]

TOOL_NAMES = tuple(tool["name"] for tool in TOOLS)
_ALLOWED_ARGS = {tool["name"]: frozenset(tool["inputSchema"]["properties"]) for tool in TOOLS}


class ToolArgumentError(BusError):
    """Arguments that do not fit the tool's schema."""

    code = "invalid_arguments"


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _string(args: Mapping[str, Any], key: str, what: str) -> str:
    if key not in args:
        raise ToolArgumentError(f"missing required argument {key!r} ({what})")
    value = args[key]
    if not isinstance(value, str):
        raise ToolArgumentError(f"{key} must be a string ({what}), got {_json_type(value)}")
    return value


def _optional_int(args: Mapping[str, Any], key: str, what: str) -> int | None:
    value = args.get(key)
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())  # msg_id appears as a string in the channel tag; accept it as written
    if isinstance(value, bool) or not isinstance(value, int):
        raise ToolArgumentError(f"{key} must be an integer ({what}), got {_json_type(value)}")
    return value


def text_result(text: str, structured: dict[str, Any] | None = None) -> dict[str, Any]:
    """A successful result. Claude Code shows the model a result's ``structuredContent`` instead of its
    text when there is one (seen with 2.1.197 and 2.1.331), so the text rides in it as ``text`` too:
    otherwise read_messages would hand the model ids without the messages."""
    result: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": False}
    if structured is not None:
        result["structuredContent"] = {**structured, "text": text}
    return result


def error_result(message: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": message}], "isError": True}


#: How a door reads in list_peers and whoami.
DOOR_WORDS = {
    "native": "Claude Code's messaging socket",
    "channel": "Claude Code channel events",
    "app-server": "Codex's app-server",
    "hook": "Gemini CLI's hooks, at the session's next tool call, prompt or end of turn",
}


def _delivery_mode(peer: Peer) -> str:
    if not peer.can_push:
        return "pull only (sees messages when it calls read_messages)"
    how = DOOR_WORDS.get(peer.door or "")
    return f"receives by push ({how})" if how else "receives by push"


class ToolBox:
    """Maps tool calls onto an Endpoint."""

    def __init__(self, endpoint: Endpoint, identity: Identity, plan: Plan, transcript: Location | None = None) -> None:
        self.endpoint = endpoint
        self.identity = identity
        self.plan = plan
        #: Where this session's receipts come from (or why there are none).
        self.transcript = transcript or Location(None, "no transcript was looked for")
        self._handlers: dict[str, Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]] = {
            "send_message": self.send_message,
            "broadcast": self.broadcast,
            "list_peers": self.list_peers,
            "whoami": self.whoami,
            "set_name": self.set_name,
            "read_messages": self.read_messages,
            "message_status": self.message_status,
        }

    async def call(self, name: str, arguments: Mapping[str, Any] | None) -> dict[str, Any]:
        """Run one tool; every failure comes back as a tool error result."""
        handler = self._handlers.get(name)
        if handler is None:
            return error_result(f"unknown tool {name!r}; the agentbus tools are {', '.join(TOOL_NAMES)}")
        args = arguments or {}
        unknown = sorted(set(args) - _ALLOWED_ARGS[name])
        if unknown:
            allowed = ", ".join(sorted(_ALLOWED_ARGS[name])) or "no arguments"
            return error_result(f"{name} got unknown argument(s) {', '.join(map(repr, unknown))}; it takes {allowed}")
        try:
            return await handler(args)
        except BusError as exc:
            return error_result(str(exc))
        except Exception as exc:
            log.exception("tool %s failed", name)
            return error_result(f"agentbus failed inside {name}: {type(exc).__name__}: {exc}")

    # tools ---------------------------------------------------------------------------------------

    async def send_message(self, args: Mapping[str, Any]) -> dict[str, Any]:
        to = _string(args, "to", "the peer name to send to")
        if to == BROADCAST:
            raise ToolArgumentError("to='*' would reach every peer; use the broadcast tool for that")
        text = _string(args, "text", "the message")
        reply_to = _optional_int(args, "reply_to", "the msg_id you are replying to")
        receipt = await self.endpoint.send(to, text, reply_to=reply_to)
        msg_id = receipt.ids[0]
        structured: dict[str, Any] = {"msg_id": msg_id, "to": to, "queued_offline": bool(receipt.queued_offline)}
        if reply_to is not None:
            structured["reply_to"] = reply_to
        structured["state"] = "queued"
        if receipt.queued_offline:
            text = f"{to} is not online; queued, pushed when {to} starts (msg_id {msg_id})."
            return text_result(text + await self._waiting_hint(), structured)
        can_push = to not in receipt.pull_only
        structured["can_push"] = can_push
        how = "; it receives by push" if can_push else "; it is online but pull only, so it sees it on read_messages"
        text = f"Sent to {to} (msg_id {msg_id}){how}; message_status tells when its model has seen it."
        return text_result(text + await self._waiting_hint(), structured)

    async def broadcast(self, args: Mapping[str, Any]) -> dict[str, Any]:
        text = _string(args, "text", "the message")
        receipt = await self.endpoint.broadcast(text)
        structured = {"recipients": list(receipt.recipients), "msg_ids": list(receipt.ids)}
        if not receipt.recipients:
            return text_result("No other peer is online on agentbus; nothing was sent.", structured)
        count = len(receipt.recipients)
        names = ", ".join(receipt.recipients)
        text = f"Sent to {count} peer{'s' if count != 1 else ''}: {names}."
        return text_result(text + await self._waiting_hint(), structured)

    async def list_peers(self, args: Mapping[str, Any]) -> dict[str, Any]:
        me = self.endpoint.name
        peers = await self.endpoint.peers()
        rows = [
            {
                "name": p.name,
                "you": p.name == me,
                "can_push": self.endpoint.can_push if p.name == me else p.can_push,
                "door": (self.endpoint.door if p.name == me else p.door) or None,
                "adapter": p.adapter,
                "since": iso_utc(p.started_at),
            }
            for p in peers
        ]
        structured = {"you": me, "peers": rows}
        others = [p for p in peers if p.name != me]
        if not others:
            return text_result(f"Only you ({me}) are online on agentbus.", structured)
        lines = [f"{len(peers)} peers online on agentbus:"]
        for p in peers:
            if p.name == me:
                lines.append(f"- {p.name} (you)")
            else:
                lines.append(f"- {p.name}: {_delivery_mode(p)}")
        return text_result("\n".join(lines), structured)

    async def whoami(self, args: Mapping[str, Any]) -> dict[str, Any]:
        endpoint, identity = self.endpoint, self.identity
        me = endpoint.name
        lines = [f"You are {me} on agentbus; peers reach you with send_message(to={me!r})."]
        if identity.asked_for != me:
            lines.append(f"You asked for {identity.asked_for} but a live session holds it; you are {me}.")
        elif identity.renamed:
            lines.append("You took this name with set_name.")
        elif identity.generated:
            lines.append("No AGENTBUS_NAME was set, so this name was generated; set_name picks a better one.")
        elif identity.raw is not None and identity.raw != identity.asked_for:
            lines.append(f"AGENTBUS_NAME {identity.raw!r} was turned into the valid name {identity.asked_for!r}.")
        if endpoint.can_push:
            door = DOOR_WORDS.get(endpoint.door or "", endpoint.door or "")
            lines.append(f'Messages reach you by push ({door}), as <channel source="agentbus"> tags.')
            if endpoint.receipts:
                lines.append(f"Receipts: on; agentbus confirms what you saw from {self.transcript.reason}.")
            else:
                lines.append(f"Receipts: off ({self.transcript.reason}); a push counts as delivered once written.")
        elif not self.plan.push:
            lines.append(f"Messages are not pushed to you: {self.plan.reason}. Call read_messages to fetch them.")
        else:
            lines.append("Messages are not pushed to you yet (the client is still connecting); call read_messages.")
        hint = await self._waiting_hint()
        if hint:
            lines.append(hint.strip())
        structured = {
            "name": me,
            "requested": identity.asked_for,
            "can_push": endpoint.can_push,
            "door": endpoint.door if endpoint.can_push else PULL,
            "doors": list(self.plan.doors),
            "receipts": endpoint.receipts,
            "receipts_source": self.transcript.reason,
            "bus": endpoint.bus.where,
        }
        return text_result("\n".join(lines), structured)

    async def set_name(self, args: Mapping[str, Any]) -> dict[str, Any]:
        new = _string(args, "name", "the new name")
        old = self.endpoint.name
        if new == old:
            return text_result(f"You are already {old}.", {"name": old, "previous": old})
        peer = await self.endpoint.rename(new)
        self.identity.asked_for = peer.name
        self.identity.renamed = True
        return text_result(
            f"You are now {peer.name} (was {old}); peers reach you as {peer.name}, and messages waiting for "
            f"{old} moved with you.",
            {"name": peer.name, "previous": old},
        )

    async def _waiting_hint(self) -> str:
        """In pull mode, a note on mail waiting for this session (nothing tells the model otherwise)."""
        if self.endpoint.can_push:
            return ""
        waiting = len(await anyio.to_thread.run_sync(self.endpoint.bus.pending, self.endpoint.name))
        if not waiting:
            return ""
        return f" {waiting} agentbus message{'s' if waiting != 1 else ''} waiting for you: call read_messages."

    async def message_status(self, args: Mapping[str, Any]) -> dict[str, Any]:
        msg_id = _optional_int(args, "msg_id", "the msg_id send_message returned")
        if msg_id is None:
            raise ToolArgumentError("missing required argument 'msg_id' (the msg_id send_message returned)")
        me = self.endpoint.name
        try:
            found = await anyio.to_thread.run_sync(self.endpoint.bus.receipt, msg_id)
        except UnknownMessage:
            found = None
        if found is None or me not in (found.envelope.sender, found.envelope.recipient):
            raise ToolArgumentError(f"no message {msg_id} was sent by or to you")
        return text_result(describe_receipt(found), receipt_fields(found))

    async def read_messages(self, args: Mapping[str, Any]) -> dict[str, Any]:
        limit = _optional_int(args, "limit", f"1 to {READ_LIMIT_MAX}")
        if limit is None:
            limit = READ_LIMIT_DEFAULT
        if not 1 <= limit <= READ_LIMIT_MAX:
            raise ToolArgumentError(f"limit must be between 1 and {READ_LIMIT_MAX}, got {limit}")
        envelopes = await self.endpoint.take_pending(limit)
        structured = {"count": len(envelopes), "msg_ids": [e.id for e in envelopes]}
        if not envelopes:
            return text_result("No new agentbus messages.", structured)
        text = "\n".join(render_channel(e.body, e.meta()) for e in envelopes)
        if len(envelopes) == limit:
            text += "\n(There may be more: call read_messages again.)"
        return text_result(text, structured)


def receipt_fields(receipt: Receipt) -> dict[str, Any]:
    """A receipt as structured content: the state, then each rung's time (ISO 8601 UTC, or null)."""
    envelope = receipt.envelope

    def at(value: float | None) -> str | None:
        return iso_utc(value) if value is not None else None

    return {
        "msg_id": envelope.id,
        "from": envelope.sender,
        "to": envelope.recipient,
        "state": receipt.state,
        "queued": at(envelope.created_at),
        "pushed": at(receipt.pushed_at),
        "received": at(receipt.received_at),
        "seen": at(receipt.seen_at),
        "answered": at(receipt.answered_at),
        "answer_id": receipt.answer_id,
        "recipient_receipts": receipt.recipient_receipts,
    }


def describe_receipt(receipt: Receipt) -> str:
    """One sentence on where a message is, naming the proof behind the state."""
    envelope = receipt.envelope
    head = f"Message {envelope.id} from {envelope.sender} to {envelope.recipient}"
    proofs = {
        "answered": f"answered (message {receipt.answer_id} replies to it)",
        "seen": "seen: it is in the recipient model's context (its Claude Code transcript shows it)",
        "received": "received: the recipient's Claude Code has queued it for its model's next turn",
        "delivered": "delivered: written to the recipient's session or read with read_messages "
        "(this recipient gives no receipts, so nobody can say its model saw it)",
        "pushed": "pushed: written to the recipient's session, not yet confirmed by its Claude Code",
        "queued": "queued: waiting for the recipient"
        + ("" if receipt.recipient_live else " (it is not online; it gets the message when it starts)"),
    }
    return f"{head}: {proofs[receipt.state]}."
