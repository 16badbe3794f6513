"""Client profiles: what a real MCP client sends and does, recorded from its binary (one JSON file each).

A profile file is ``<client>@<version>.json`` in this package. Format 1 holds, exactly as the
binary wrote them: ``opening`` (the requests before the handshake answer: a ``server/discover``
probe or not, then ``initialize``), ``after_initialize`` (what it sends together once initialize
is answered), ``tools_call`` and ``next_tools_call`` (two real ``tools/call`` with their ``_meta``:
the progress token follows the request id); and what it does: ``channel_handler`` (the handler is
registered after the answer to ``registered_after``; ``observed_delay_ms`` is what the recorder
measured, ``delay_ms`` the window, at least 400, in which fakeclaude drops events),
``channel_rendering`` (how an event is shown to the model), ``shutdown`` (signals and when after
the first, with ``observed_ms``), ``server_env`` (names of the variables a server inherits),
``transcript`` (where the session transcript is written), and, for a client that opens Claude Code's
messaging socket to its servers, ``native_door``: the variables it sets, the lines the socket takes,
the records a write becomes and the ``framing`` (``before``, ``after``) the model is shown around it.

``fakeclaude record-profile --claude PATH`` writes a new file from an installed binary.
"""

import json
import secrets
import string
from dataclasses import dataclass
from importlib import resources
from typing import Any

FORMAT = 1
_BASE62 = string.ascii_letters + string.digits
PROFILE_SUFFIX = ".json"


class UnknownProfile(ValueError):
    """No profile file by that name."""


@dataclass(frozen=True)
class Signal:
    """One step of the client's shutdown: send ``name`` ``after_ms`` after the first signal."""

    name: str
    after_ms: int


@dataclass(frozen=True)
class Profile:
    """One recorded client (see the module docstring for the file format)."""

    id: str
    client: str
    version: str
    data: dict[str, Any]

    @property
    def opening(self) -> list[dict[str, Any]]:
        return list(self.data["opening"])

    @property
    def discover_probe(self) -> dict[str, Any] | None:
        """The ``server/discover`` request the client opens with, or None (it sends initialize first)."""
        return next((m for m in self.opening if m.get("method") == "server/discover"), None)

    @property
    def initialize(self) -> dict[str, Any]:
        return next(m for m in self.opening if m.get("method") == "initialize")

    @property
    def after_initialize(self) -> list[dict[str, Any]]:
        return list(self.data["after_initialize"])

    @property
    def tools_call(self) -> dict[str, Any]:
        return dict(self.data["tools_call"])

    @property
    def tools_call_meta_keys(self) -> list[str]:
        return list(self.tools_call["params"].get("_meta", {}))

    def tool_call_meta(self, request_id: int | str) -> dict[str, Any]:
        """The ``_meta`` this client puts on a tools/call: a fresh toolUseId, the request id as progress token."""
        meta: dict[str, Any] = {}
        for key, recorded in self.tools_call["params"].get("_meta", {}).items():
            if key == "claudecode/toolUseId":
                meta[key] = "toolu_" + "".join(secrets.choice(_BASE62) for _ in range(24))
            elif key == "progressToken":
                meta[key] = request_id
            else:
                meta[key] = recorded
        return meta

    def tools_call_request(self, request_id: int | str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """A whole tools/call request as this client writes it (key order and ``_meta`` included)."""
        params = shaped(self.tools_call["params"], {"name": name, "arguments": arguments, "_meta": {}})
        params["_meta"] = self.tool_call_meta(request_id)
        if not params["_meta"]:
            del params["_meta"]
        return shaped(self.tools_call, {"method": "tools/call", "params": params, "jsonrpc": "2.0", "id": request_id})

    @property
    def channel_handler_delay(self) -> float:
        """Seconds after the ``registered_after`` answer during which channel events are dropped."""
        return float(self.data["channel_handler"]["delay_ms"]) / 1000.0

    @property
    def channel_rendering(self) -> str:
        return str(self.data["channel_rendering"])

    @property
    def native_door(self) -> dict[str, Any] | None:
        """The messaging socket this client gives its servers (``native_door``), or None."""
        door = self.data.get("native_door")
        return dict(door) if isinstance(door, dict) else None

    @property
    def native_origin(self) -> dict[str, Any]:
        """The ``origin`` of the record a native write becomes (without the writer's pid)."""
        return dict((self.native_door or {}).get("origin") or {"kind": "peer", "from": "unknown"})

    def native_framing(self, written: str) -> str:
        """What the model is shown for a text written to the messaging socket (its framing around it)."""
        framing = (self.native_door or {}).get("framing") or {}
        return f"{framing.get('before', '')}{written}{framing.get('after', '')}"

    @property
    def shutdown(self) -> list[Signal]:
        return [Signal(step["signal"], int(step["after_ms"])) for step in self.data["shutdown"]]


def shaped(template: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    """``message`` with its keys in the order of ``template`` (then any others): the client's own order."""
    ordered = {key: message[key] for key in template if key in message}
    ordered.update((key, value) for key, value in message.items() if key not in ordered)
    return ordered


def available() -> list[str]:
    """The ids of the profiles shipped in this package, oldest version first."""
    names = [
        entry.name[: -len(PROFILE_SUFFIX)]
        for entry in resources.files(__name__).iterdir()
        if entry.name.endswith(PROFILE_SUFFIX)
    ]
    return sorted(names, key=_version_key)


def _version_key(profile_id: str) -> tuple[str, tuple[int, ...]]:
    client, _, version = profile_id.partition("@")
    return client, tuple(int(part) if part.isdigit() else 0 for part in version.split("."))


DEFAULT = "claude-code@2.1.337"


def load(name: str | None = None) -> Profile:
    """The profile ``client@version`` (default: the newest Claude Code profile shipped)."""
    name = name or DEFAULT
    if "@" not in name:
        matching = [p for p in available() if p.startswith(name + "@")]
        if not matching:
            raise UnknownProfile(f"no client profile for {name!r}; known: {', '.join(available())}")
        name = matching[-1]
    try:
        text = resources.files(__name__).joinpath(name + PROFILE_SUFFIX).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UnknownProfile(f"no client profile {name!r}; known: {', '.join(available())}") from None
    data = json.loads(text)
    if data.get("format") != FORMAT:
        raise UnknownProfile(f"profile {name!r} has format {data.get('format')!r}; this fakeclaude reads {FORMAT}")
    return Profile(id=data["id"], client=data["client"], version=data["version"], data=data)
