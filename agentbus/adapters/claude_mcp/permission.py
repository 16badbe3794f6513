"""Permission relay: this session's permission prompts go to one approver peer, whose "yes ID" / "no ID" answers them.

Claude Code (2.1.81 and later) sends ``notifications/claude/channel/permission_request``
``{request_id, tool_name, description, input_preview}`` to every channel server that declared
``capabilities.experimental["claude/channel/permission"]``, while its own permission dialog stays
open; a ``notifications/claude/channel/permission`` ``{request_id, behavior}`` back answers it
(the first answer wins, the local one or the relayed one; an unknown id is ignored). The relay is
off unless ``AGENTBUS_APPROVER`` names a peer (SPEC section 6c): only then is the capability
declared, and only that peer's answers count. Standard library only: the capability is decided
before the ``initialize`` answer.
"""

import logging
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

CAPABILITY = "claude/channel/permission"
REQUEST_METHOD = "notifications/claude/channel/permission_request"
VERDICT_METHOD = "notifications/claude/channel/permission"
#: Claude Code's ids: five letters a-z without 'l' (it cannot be told from '1' or 'I' when typed).
REQUEST_ID = re.compile(r"[a-km-z]{5}")
#: A whole message that answers a request: yes/y/no/n, then the id (the official channels' pattern).
VERDICT = re.compile(r"\s*(y|yes|n|no)\s+([a-km-z]{5})\s*", re.IGNORECASE)
#: Open requests kept per session; older ones are forgotten (their local dialog still works).
MAX_OPEN_REQUESTS = 100
#: Longest description / input preview quoted to the approver (Claude Code cuts the preview at 200).
MAX_QUOTED = 1000


class BadPermissionRequest(ValueError):
    """A permission_request whose params are not four strings with a valid request_id."""


def relay_approver(approver: str | None, own_name: str | None) -> str | None:
    """The peer to relay to: ``approver``, unless it is this session itself (nothing would answer)."""
    if approver is not None and approver == own_name:
        log.warning(
            "AGENTBUS_APPROVER=%s is this session itself; its permission prompts stay in its terminal", approver
        )
        return None
    return approver


@dataclass(frozen=True)
class PermissionRequest:
    """One open permission prompt of this session, as Claude Code described it."""

    request_id: str
    tool_name: str
    description: str
    input_preview: str

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> "PermissionRequest":
        if not isinstance(params, Mapping):
            raise BadPermissionRequest("permission_request without params")
        values = {key: params.get(key) for key in ("request_id", "tool_name", "description", "input_preview")}
        wrong = [key for key, value in values.items() if not isinstance(value, str)]
        if wrong:
            raise BadPermissionRequest(f"permission_request params must be strings: {', '.join(wrong)}")
        request_id = str(values["request_id"]).lower()
        if not REQUEST_ID.fullmatch(request_id):
            raise BadPermissionRequest(f"permission_request id {values['request_id']!r} is not five letters a-z")
        return cls(request_id, str(values["tool_name"]), str(values["description"]), str(values["input_preview"]))

    def message(self, requester: str) -> str:
        """What the approver receives: who asks, for which tool, with what, and how to answer."""
        lines = [f"Permission request {self.request_id} from {requester}: may it use the tool {self.tool_name}?"]
        if self.description.strip():
            lines.append(f"What it does: {_quoted(self.description)}")
        if self.input_preview.strip():
            lines.append(f"Input: {_quoted(self.input_preview)}")
        lines.append(
            f'Answer with send_message to="{requester}": text "yes {self.request_id}" to allow it, '
            f'"no {self.request_id}" to deny it. Its user can still answer in its own terminal.'
        )
        return "\n".join(lines)


@dataclass(frozen=True)
class Verdict:
    """The approver's answer to one request."""

    request_id: str
    allow: bool

    def params(self) -> dict[str, str]:
        return {"request_id": self.request_id, "behavior": "allow" if self.allow else "deny"}


def parse_verdict(text: str) -> Verdict | None:
    """``yes abcde`` / ``n abcde`` (any case, surrounding blanks) as a Verdict; anything else None."""
    match = VERDICT.fullmatch(text)
    if match is None:
        return None
    return Verdict(match.group(2).lower(), match.group(1).lower().startswith("y"))


class PermissionRelay:
    """This session's open permission requests and the one peer whose answers settle them."""

    def __init__(self, approver: str) -> None:
        self.approver = approver
        self._open: OrderedDict[str, PermissionRequest] = OrderedDict()

    @property
    def open_ids(self) -> list[str]:
        return list(self._open)

    def open(self, params: Mapping[str, Any] | None) -> PermissionRequest:
        """Record a request from the client (BadPermissionRequest if its params are malformed)."""
        request = PermissionRequest.from_params(params)
        self._open.pop(request.request_id, None)
        self._open[request.request_id] = request
        while len(self._open) > MAX_OPEN_REQUESTS:
            self._open.popitem(last=False)
        return request

    def take_verdict(self, sender: str, body: str) -> Verdict | None:
        """The verdict in a message, if it is the approver's answer to an open request (which it closes).

        Anyone else's ``yes ID``, or an answer to an id this session did not ask about, is no verdict:
        it is delivered as an ordinary message.
        """
        if sender != self.approver:
            return None
        verdict = parse_verdict(body)
        if verdict is None or verdict.request_id not in self._open:
            return None
        del self._open[verdict.request_id]
        return verdict


def _quoted(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_QUOTED else text[:MAX_QUOTED] + "..."
