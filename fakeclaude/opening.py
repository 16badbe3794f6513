"""How a session opens as the profile's client does: the server/discover probe, initialize, initialized + tools/list."""

import threading
import time
from collections.abc import Mapping
from typing import Any, Literal

from fakeclaude.assertions import SessionChecks
from fakeclaude.errors import AdapterExited, HandshakeError, RequestTimeout
from fakeclaude.jsonrpc import JsonRpcClient
from fakeclaude.profiles import Profile, shaped

Opening = Literal["initialize", "discover"]
OpeningUsed = Literal["initialize", "discover-fallback", "discover"]

DEFAULT_PROTOCOL_VERSION = "2025-11-25"
DISCOVER_PROTOCOL_VERSION = "2026-07-28"
DISCOVER_PROBE_ID = "server-discover-probe-1"
PROTOCOL_VERSION_META_KEY = "io.modelcontextprotocol/protocolVersion"
CLIENT_INFO_META_KEY = "io.modelcontextprotocol/clientInfo"
CLIENT_CAPABILITIES_META_KEY = "io.modelcontextprotocol/clientCapabilities"
CHANNEL_CAPABILITY = "claude/channel"


class SessionOpening(SessionChecks):
    """The opening of a ``Session`` (a base of it; the attributes are the session's).

    What the adapter answers is absorbed on the reader thread (``_absorb_handshake_result``), before
    any later line is read, so the capability checks on later lines see it.
    """

    profile: Profile
    opening: Opening
    protocol_version: str
    client_info: dict[str, Any]
    client_capabilities: dict[str, Any]
    channel_handler_delay: float
    channel_ready_at: float | None
    list_tools_on_start: bool
    opening_used: OpeningUsed | None
    discover_response: dict[str, Any] | None
    initialize_result: dict[str, Any] | None
    server_capabilities: dict[str, Any]
    server_info: dict[str, Any]
    instructions: str | None
    negotiated_version: str | None
    tools: list[dict[str, Any]] | None
    _rpc: JsonRpcClient
    _cond: threading.Condition
    _handshake_ids: set[Any]
    _handshake_answered: bool
    _initial_list_id: int | None
    _modern: bool

    def _shaped(self, template: Mapping[str, Any], message: dict[str, Any]) -> dict[str, Any]:
        """``message`` with its keys in the order the profile's client writes them (then any others)."""
        return shaped(dict(template), message)

    def _discover_probe(self) -> dict[str, Any]:
        recorded = self.profile.discover_probe
        meta: dict[str, Any] = dict(recorded["params"]["_meta"]) if recorded else {}
        meta[PROTOCOL_VERSION_META_KEY] = meta.get(PROTOCOL_VERSION_META_KEY, DISCOVER_PROTOCOL_VERSION)
        meta[CLIENT_INFO_META_KEY] = self.client_info
        meta.setdefault(CLIENT_CAPABILITIES_META_KEY, self.client_capabilities)
        probe = {"jsonrpc": "2.0", "id": DISCOVER_PROBE_ID, "method": "server/discover", "params": {"_meta": meta}}
        return self._shaped(recorded or probe, probe)

    def _open(self, deadline: float) -> None:
        if self.opening == "discover":
            probe = self._discover_probe()
            with self._cond:
                self._handshake_ids.add(probe["id"])
            response = self._roundtrip(probe, deadline, "opening")
            self.discover_response = response
            if "error" not in response:
                self.opening_used = "discover"
                self._modern = True
                self.negotiated_version = DISCOVER_PROTOCOL_VERSION
                self._register_channel_handler(time.monotonic())
                if not self.channel_capable:
                    self._finding(
                        "discover_succeeded_without_channel",
                        "server answered server/discover successfully and its reply lacks "
                        "experimental['claude/channel']: Claude Code would never deliver its channel events",
                        severity="warning",
                    )
                else:
                    self._finding(
                        "discover_succeeded",
                        "server answered server/discover successfully: Claude Code skips initialize "
                        "and notifications/initialized",
                        severity="warning",
                    )
                return
            self.opening_used = "discover-fallback"
        else:
            self.opening_used = "initialize"
        msg_id = self._rpc.new_id()
        params = {
            "protocolVersion": self.protocol_version,
            "capabilities": self.client_capabilities,
            "clientInfo": self.client_info,
        }
        init = self._shaped(
            self.profile.initialize, {"method": "initialize", "params": params, "jsonrpc": "2.0", "id": msg_id}
        )
        with self._cond:
            self._handshake_ids.add(msg_id)
        response = self._roundtrip(init, deadline, "opening")
        if "error" in response:
            raise HandshakeError(
                f"initialize failed: {response['error']!r}\n--- adapter stderr ---\n{self.stderr[-4000:]}"
            )
        self._after_initialize(deadline)

    def _after_initialize(self, deadline: float) -> None:
        """``notifications/initialized`` and ``tools/list`` in one write, as Claude Code sends them.

        Claude Code registers its channel handler only once it has the tools/list answer (plus the
        profile's delay); a server without the tools capability gets no tools/list, and the handler
        is registered that long after the initialize answer instead.
        """
        templates = {m.get("method"): m for m in self.profile.after_initialize}
        initialized = self._shaped(
            templates.get("notifications/initialized", {}), {"jsonrpc": "2.0", "method": "notifications/initialized"}
        )
        if not (self.list_tools_on_start and "tools" in self.server_capabilities):
            # The handler is there from the moment the notification goes out: an event the server
            # writes as soon as it reads it must not count as early.
            listening_from = time.monotonic()
            self._rpc.write_together([initialized])
            self._register_channel_handler(listening_from)
            return
        list_id = self._rpc.new_id()
        listing = self._shaped(
            templates.get("tools/list", {}), {"method": "tools/list", "jsonrpc": "2.0", "id": list_id}
        )
        self._rpc.expect(list_id, "tools/list")
        with self._cond:
            self._initial_list_id = list_id
        try:
            self._rpc.write_together([initialized, listing])
            response = self._rpc.await_response(list_id, deadline)
        except (RequestTimeout, AdapterExited) as exc:
            raise HandshakeError(
                f"tools/list after the opening: {exc}\n--- adapter stderr ---\n{self.stderr[-4000:]}"
            ) from exc
        if "error" in response:
            self._finding("tools_list_failed", f"tools/list after the opening failed: {response['error']!r}")
            return
        result = response.get("result")
        page = result.get("tools") if isinstance(result, dict) else None
        self.tools = [t for t in page or [] if isinstance(t, dict)]

    def _register_channel_handler(self, answered_at: float) -> None:
        with self._cond:
            if self.channel_ready_at is None:
                self.channel_ready_at = answered_at + self.channel_handler_delay
                self._cond.notify_all()

    def wait_channel_ready(self, timeout: float = 5.0) -> None:
        """Block until the simulated client listens for channel events (events before are dropped)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.channel_ready_at is None or time.monotonic() < self.channel_ready_at:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RequestTimeout(f"the channel handler was not registered within {timeout:g}s")
                wait = remaining if self.channel_ready_at is None else self.channel_ready_at - time.monotonic()
                self._cond.wait(max(0.0, min(remaining, wait)))

    def _roundtrip(self, message: dict[str, Any], deadline: float, what: str) -> dict[str, Any]:
        method = str(message["method"])
        try:
            return self._rpc.roundtrip(message, deadline)
        except AdapterExited as exc:
            if what == "opening":
                raise HandshakeError(f"{method} during the opening: {exc}") from exc
            raise
        except RequestTimeout as exc:
            if what == "opening":
                tail = self.stderr.strip()[-4000:]
                raise HandshakeError(
                    f"{method} during the opening: {exc}" + (f"\n--- adapter stderr ---\n{tail}" if tail else "")
                ) from exc
            raise

    def _absorb_handshake_result(self, method: str, result: Any) -> None:
        """Called in the reader thread, before any later line is read, so capability checks see it."""
        if not isinstance(result, dict):
            self._finding("bad_handshake_result", f"{method} result is not an object: {result!r}")
            return
        caps = result.get("capabilities")
        self.server_capabilities = caps if isinstance(caps, dict) else {}
        instructions = result.get("instructions")
        self.instructions = instructions if isinstance(instructions, str) else None
        if method == "initialize":
            self.initialize_result = result
            info = result.get("serverInfo")
            self.server_info = info if isinstance(info, dict) else {}
            version = result.get("protocolVersion")
            self.negotiated_version = version if isinstance(version, str) else None
        else:
            meta = result.get("_meta")
            info = meta.get("io.modelcontextprotocol/serverInfo") if isinstance(meta, dict) else None
            self.server_info = info if isinstance(info, dict) else {}
        self._handshake_answered = True

    @property
    def channel_capable(self) -> bool:
        """True if the server declared ``capabilities.experimental["claude/channel"]``."""
        experimental = self.server_capabilities.get("experimental")
        return isinstance(experimental, dict) and CHANNEL_CAPABILITY in experimental
