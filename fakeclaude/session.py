"""A fake Claude Code session: runs a real adapter over stdio, opens it like Claude Code, records the wire."""

import codecs
import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from agentbus.manifest import Manifest, resolve_adapter
from fakeclaude.claude_shim import stand_in
from fakeclaude.errors import (
    AdapterExited,
    ChannelTimeout,
    HandshakeError,
    JsonRpcError,
    RequestTimeout,
)
from fakeclaude.profiles import Profile, shaped
from fakeclaude.profiles import load as load_profile
from fakeclaude.recorder import Recorder, WireRecord
from fakeclaude.rendering import (
    CHANNEL_METHOD,
    InvalidChannelParams,
    render_channel,
    validate_params,
)
from fakeclaude.results import ChannelEvent, CloseResult, DroppedEvent, Finding, ShutdownResult, ToolResult
from fakeclaude.transcript import TranscriptWriter, transcript_path

Opening = Literal["initialize", "discover"]
OpeningUsed = Literal["initialize", "discover-fallback", "discover"]

DEFAULT_PROTOCOL_VERSION = "2025-11-25"
DISCOVER_PROTOCOL_VERSION = "2026-07-28"
DISCOVER_PROBE_ID = "server-discover-probe-1"
PROTOCOL_VERSION_META_KEY = "io.modelcontextprotocol/protocolVersion"
CLIENT_INFO_META_KEY = "io.modelcontextprotocol/clientInfo"
CLIENT_CAPABILITIES_META_KEY = "io.modelcontextprotocol/clientCapabilities"
CHANNEL_CAPABILITY = "claude/channel"
METHOD_NOT_FOUND = -32601

DROPPED_NO_FLAG = "channels disabled: session runs like Claude Code without --dangerously-load-development-channels"
DROPPED_NO_CAPABILITY = "server did not declare capabilities.experimental['claude/channel']"
DROPPED_EARLY = "arrived before the handshake response, when Claude Code has no channel handler yet"
DROPPED_BY_TEST = "dropped on purpose (drop_events), as Claude Code drops some events; no transcript record"
#: Variables a real Claude Code gives its servers that name its session; fakeclaude sets its own.
CLAUDE_SESSION_VARIABLES = ("CLAUDE_CODE_", "CLAUDE_PROJECT_DIR", "CLAUDE_CONFIG_DIR", "CLAUDECODE")
DROPPED_BEFORE_HANDLER = (
    "arrived before Claude Code registered its channel handler ({delay_ms} ms after the {after} answer, "
    "profile {profile})"
)


@dataclass
class _Pending:
    method: str
    response: dict[str, Any] | None = None


class Session:
    """One fake Claude Code session talking to one adapter process over stdio.

    Construct, then ``start()`` (or use ``with``); everything is synchronous: reader threads fill
    the wire log and the channel event list, and waits block on a Condition with a deadline.
    """

    def __init__(
        self,
        adapter: str | os.PathLike[str] | Manifest = "claude-mcp",
        *,
        name: str | None = None,
        bus_home: str | os.PathLike[str] | None = None,
        home: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        inherit_env: bool = True,
        channels: bool = True,
        client: str | Profile | None = None,
        opening: Opening | None = None,
        protocol_version: str | None = None,
        client_info: Mapping[str, Any] | None = None,
        client_capabilities: Mapping[str, Any] | None = None,
        channel_handler_delay: float | None = None,
        cwd: str | os.PathLike[str] | None = None,
        source: str | None = None,
        on_channel: Callable[[ChannelEvent], None] | None = None,
        stderr_echo: IO[str] | None = None,
        list_tools_on_start: bool = True,
        as_claude: bool = True,
        tool_call_meta: bool = True,
        transcript: bool = True,
        drop_events: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        self.profile = client if isinstance(client, Profile) else load_profile(client)
        if opening is None:
            opening = "discover" if self.profile.discover_probe is not None else "initialize"
        if opening not in ("initialize", "discover"):
            raise ValueError(f"opening must be 'initialize' or 'discover', not {opening!r}")
        initialize_params = self.profile.initialize["params"]
        self.manifest = adapter if isinstance(adapter, Manifest) else resolve_adapter(os.fspath(adapter))
        self.name = name
        self.bus_home = Path(bus_home) if bus_home is not None else None
        self.home = Path(home) if home is not None else None
        self.channels = channels
        self.opening = opening
        self.protocol_version = protocol_version or str(initialize_params["protocolVersion"])
        self.client_info: dict[str, Any] = dict(client_info or initialize_params["clientInfo"])
        self.client_capabilities: dict[str, Any] = dict(
            initialize_params["capabilities"] if client_capabilities is None else client_capabilities
        )
        #: Channel events that arrive sooner than this after the tools/list answer are dropped.
        self.channel_handler_delay = (
            self.profile.channel_handler_delay if channel_handler_delay is None else channel_handler_delay
        )
        #: time.monotonic() when the channel handler is registered; None until the handshake is done.
        self.channel_ready_at: float | None = None
        self.cwd = Path(cwd) if cwd is not None else None
        self.source = source if source is not None else self.manifest.server_name
        self.on_channel = on_channel
        self.stderr_echo = stderr_echo
        self.list_tools_on_start = list_tools_on_start
        #: Put the profile's ``_meta`` (toolUseId, progressToken) on every tools/call, as Claude Code does.
        self.tool_call_meta = tool_call_meta
        self.claude_argv: tuple[str, ...] | None = None
        if as_claude:
            flags = ("--dangerously-load-development-channels", f"server:{self.source}") if channels else ()
            self.claude_argv = ("claude", *flags)
        self.env = self._build_env(env, inherit_env)
        #: Events this predicate returns True for are dropped as Claude Code drops some (no record).
        self.drop_events = drop_events
        #: The session transcript fakeclaude writes like Claude Code (None without a ``home``: never the user's).
        self.transcript: TranscriptWriter | None = None
        if transcript and self.home is not None:
            self._start_transcript()

        self.recorder = Recorder()
        self.channel_events: list[ChannelEvent] = []
        self.dropped_events: list[DroppedEvent] = []
        self.findings: list[Finding] = []
        self.notifications: list[WireRecord] = []

        self.opening_used: OpeningUsed | None = None
        self.discover_response: dict[str, Any] | None = None
        self.initialize_result: dict[str, Any] | None = None
        self.server_capabilities: dict[str, Any] = {}
        self.server_info: dict[str, Any] = {}
        self.instructions: str | None = None
        self.negotiated_version: str | None = None
        self.close_result: CloseResult | None = None
        self.shutdown_result: ShutdownResult | None = None
        self.tools: list[dict[str, Any]] | None = None

        self._proc: subprocess.Popen[bytes] | None = None
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._pending: dict[Any, _Pending] = {}
        self._handshake_ids: set[Any] = set()
        self._handshake_answered = False
        self._initial_list_id: int | None = None
        self._modern = False
        self._next_id = -1  # the first request is id 0, as Claude Code numbers them
        self._taken: set[int] = set()
        self._stdout_eof = False
        self._stderr_chunks: list[str] = []
        self._threads: list[threading.Thread] = []
        self._tasks: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()
        self._dispatcher: threading.Thread | None = None
        self._stdin_closed_at: float | None = None

    # ----------------------------------------------------------------- setup

    def _build_env(self, extra: Mapping[str, str] | None, inherit: bool) -> dict[str, str]:
        base = dict(os.environ) if inherit else {"PATH": os.environ.get("PATH", os.defpath)}
        # A test run from inside a real Claude Code must not hand its session (and transcript) on.
        env = {k: v for k, v in base.items() if not k.startswith(("AGENTBUS_", *CLAUDE_SESSION_VARIABLES))}
        if self.name is not None:
            env["AGENTBUS_NAME"] = self.name
        if self.bus_home is not None:
            env["AGENTBUS_HOME"] = str(self.bus_home)
        if self.home is not None:
            env["HOME"] = str(self.home)
        env.update(extra or {})
        return env

    def _start_transcript(self) -> None:
        assert self.home is not None
        session_id = str(uuid.uuid4())
        project_dir = str(self.cwd or self.home)
        config_dir = Path(self.env.get("CLAUDE_CONFIG_DIR") or self.home / ".claude")
        self.env.setdefault("CLAUDE_CODE_SESSION_ID", session_id)
        self.env.setdefault("CLAUDE_PROJECT_DIR", project_dir)
        session_id, project_dir = self.env["CLAUDE_CODE_SESSION_ID"], self.env["CLAUDE_PROJECT_DIR"]
        path = transcript_path(config_dir, project_dir, session_id)
        self.transcript = TranscriptWriter(path, session_id, project_dir, self.source)

    @property
    def transcript_path(self) -> Path | None:
        """Where this session's transcript is written (None when it writes none)."""
        return self.transcript.path if self.transcript is not None else None

    def seen_in_transcript(self) -> list[str]:
        """The msg_ids of the channel events the model saw, in order (from the transcript's user records)."""
        path = self.transcript_path
        if path is None or not path.exists():
            return []
        seen = []
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record.get("type") == "user" and isinstance(record.get("message", {}).get("content"), str):
                seen += re.findall(r'<channel [^>]*msg_id="(\d+)"', record["message"]["content"])
        return seen

    def begin_turn(self) -> None:
        """The model is busy (a long turn): channel events are queued, not seen, until ``end_turn``."""
        if self.transcript is not None:
            self.transcript.begin_turn()

    def end_turn(self) -> None:
        """The turn ends: queued channel events reach the model (written to the transcript as seen)."""
        if self.transcript is not None:
            self.transcript.end_turn()

    @property
    def command(self) -> list[str]:
        """What is executed: the manifest command, behind the ``claude`` stand-in unless as_claude=False."""
        return self._launch_spec()[0]

    def _launch_spec(self) -> tuple[list[str], str | None, dict[str, str]]:
        if self.claude_argv is None:
            return list(self.manifest.command), None, self.env
        return stand_in(self.claude_argv[1:], self.manifest.command, self.env)

    def start(self, timeout: float = 30.0) -> "Session":
        """``launch()`` then ``open(timeout)``: the whole start of a Claude Code session."""
        return self.launch().open(timeout)

    def launch(self) -> "Session":
        """Start the adapter process and its reader threads, without saying anything to it yet."""
        if self._proc is not None:
            raise RuntimeError("session already started")
        argv, executable, env = self._launch_spec()
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=self.cwd,
                start_new_session=True,
                executable=executable,
            )
        except OSError as exc:
            raise HandshakeError(f"cannot start adapter {self.manifest.command!r}: {exc}") from exc
        for target, label in ((self._read_stdout, "stdout"), (self._read_stderr, "stderr")):
            thread = threading.Thread(target=target, name=f"fakeclaude-{self.name}-{label}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._dispatcher = threading.Thread(target=self._dispatch, name=f"fakeclaude-{self.name}-dispatch", daemon=True)
        self._dispatcher.start()
        return self

    def open(self, timeout: float = 30.0) -> "Session":
        """Run the opening as the profile's client does: the probe (if any), ``initialize``, then
        ``notifications/initialized`` and ``tools/list`` written together (if the server has the
        tools capability and ``list_tools_on_start``). On failure the process is ended and
        HandshakeError (with the adapter's stderr) raised."""
        if self._proc is None:
            raise RuntimeError("launch() the session first")
        if self.opening_used is not None:
            raise RuntimeError("session already opened")
        deadline = time.monotonic() + timeout
        try:
            self._open(deadline)
        except BaseException:
            self.close(timeout=1.0)
            raise
        return self

    def __enter__(self) -> "Session":
        if self._proc is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        msg_id = self._new_id()
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
            self._write_together([initialized])
            self._register_channel_handler(time.monotonic())
            return
        list_id = self._new_id()
        listing = self._shaped(
            templates.get("tools/list", {}), {"method": "tools/list", "jsonrpc": "2.0", "id": list_id}
        )
        with self._cond:
            self._pending[list_id] = _Pending("tools/list")
            self._initial_list_id = list_id
        try:
            self._write_together([initialized, listing])
            response = self._await_response(list_id, deadline)
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
        with self._cond:
            self._pending[message["id"]] = _Pending(method)
        try:
            self._write(message)
            return self._await_response(message["id"], deadline)
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

    # ----------------------------------------------------------------- wire

    def _new_id(self) -> int:
        with self._cond:
            self._next_id += 1
            return self._next_id

    def _write(self, message: dict[str, Any]) -> WireRecord:
        raw = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
        with self._write_lock:
            record = self.recorder.record_sent(message, raw)
            self._write_bytes(raw.encode("utf-8") + b"\n")
        return record

    def _write_together(self, messages: list[dict[str, Any]]) -> None:
        """Several messages in one write (Claude Code sends initialized and tools/list so)."""
        raws = [json.dumps(m, separators=(",", ":"), ensure_ascii=False) for m in messages]
        with self._write_lock:
            for message, raw in zip(messages, raws, strict=True):
                self.recorder.record_sent(message, raw)
            self._write_bytes("".join(raw + "\n" for raw in raws).encode("utf-8"))

    def _write_bytes(self, data: bytes) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise RuntimeError("session not started")
        try:
            proc.stdin.write(data)
            proc.stdin.flush()
        except (BrokenPipeError, ConnectionResetError, ValueError) as exc:
            raise AdapterExited(f"cannot write to the adapter's stdin ({exc}); {self._exit_hint()}") from exc

    def send_raw(self, line: str | bytes, newline: bool = True) -> WireRecord:
        """Write bytes as they are (malformed input welcome); a newline is appended unless present."""
        data = line.encode("utf-8") if isinstance(line, str) else line
        if newline and not data.endswith(b"\n"):
            data += b"\n"
        text = data.decode("utf-8", errors="replace").rstrip("\n")
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            parsed = None
        with self._write_lock:
            if isinstance(parsed, dict):
                record = self.recorder.record("sent", text, parsed)
            else:
                record = self.recorder.record("sent", text, None, kind="junk", note="sent raw")
            self._write_bytes(data)
        return record

    def request(self, method: str, params: Mapping[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
        """Send a request and return the raw JSON-RPC response (it has ``result`` or ``error``)."""
        msg_id = self._new_id()
        message: dict[str, Any] = {"method": method, "jsonrpc": "2.0", "id": msg_id}
        params_out = dict(params) if params is not None else None
        if method == "tools/call" and self.tool_call_meta and params_out is not None:
            params_out["_meta"] = {**self.profile.tool_call_meta(msg_id), **dict(params_out.get("_meta") or {})}
        if self._modern:
            params_out = dict(params_out or {})
            meta = dict(params_out.get("_meta") or {})
            meta.setdefault(PROTOCOL_VERSION_META_KEY, DISCOVER_PROTOCOL_VERSION)
            meta.setdefault(CLIENT_INFO_META_KEY, self.client_info)
            meta.setdefault(CLIENT_CAPABILITIES_META_KEY, self.client_capabilities)
            params_out["_meta"] = meta
        if params_out is not None:
            message["params"] = params_out
        message = self._shaped(self.profile.tools_call, message)
        return self._roundtrip(message, time.monotonic() + timeout, "request")

    def request_result(self, method: str, params: Mapping[str, Any] | None = None, timeout: float = 10.0) -> Any:
        """Like ``request`` but returns ``result``; a JSON-RPC error raises JsonRpcError."""
        response = self.request(method, params, timeout)
        if "error" in response:
            raise JsonRpcError(method, response["error"], response)
        return response.get("result")

    def notify(self, method: str, params: Mapping[str, Any] | None = None) -> WireRecord:
        """Send a notification."""
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = dict(params)
        return self._write(message)

    def _await_response(self, msg_id: Any, deadline: float) -> dict[str, Any]:
        with self._cond:
            pending = self._pending[msg_id]
            while pending.response is None:
                if self._stdout_eof:
                    del self._pending[msg_id]
                    raise AdapterExited(f"no response to {pending.method} (id {msg_id!r}): {self._exit_hint()}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    del self._pending[msg_id]
                    raise RequestTimeout(f"no response to {pending.method} (id {msg_id!r}) in time")
                self._cond.wait(remaining)
            del self._pending[msg_id]
            return pending.response

    def _exit_hint(self) -> str:
        proc = self._proc
        code = None
        if proc is not None and self._stdout_eof:
            # stdout closes a moment before the exit status and the last stderr bytes are in.
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = proc.wait(0.5)
            for thread in self._threads:
                thread.join(timeout=0.5)
        elif proc is not None:
            code = proc.poll()
        state = "adapter closed its stdout" if self._stdout_eof else "adapter stdin is closed"
        if code is not None:
            state += f", exit code {code}"
        tail = self.stderr.strip()[-1500:]
        return state + (f"\n--- adapter stderr (tail) ---\n{tail}" if tail else "")

    # ----------------------------------------------------------------- tools

    def call_tool(self, name: str, arguments: Mapping[str, Any] | None = None, timeout: float = 10.0) -> ToolResult:
        """Call a tool. A tool-level failure is ``is_error``; a JSON-RPC error raises JsonRpcError."""
        result = self.request_result("tools/call", {"name": name, "arguments": dict(arguments or {})}, timeout)
        if not isinstance(result, dict):
            raise JsonRpcError("tools/call", {"code": None, "message": f"result is not an object: {result!r}"}, {})
        content = result.get("content")
        content = content if isinstance(content, list) else []
        text = "\n".join(
            str(item.get("text", "")) for item in content if isinstance(item, dict) and item.get("type") == "text"
        )
        return ToolResult(
            is_error=bool(result.get("isError", False)),
            text=text,
            structured=result.get("structuredContent"),
            content=content,
            raw=result,
        )

    def list_tools(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Every tool the adapter lists (follows nextCursor), also kept in ``self.tools``."""
        tools: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(100):
            result = self.request_result("tools/list", {"cursor": cursor} if cursor else None, timeout)
            page = result.get("tools") if isinstance(result, dict) else None
            tools.extend(t for t in page or [] if isinstance(t, dict))
            cursor = result.get("nextCursor") if isinstance(result, dict) else None
            if not cursor:
                break
        self.tools = tools
        return tools

    def ping(self, timeout: float = 5.0) -> dict[str, Any]:
        """Send a ping and return the raw response."""
        return self.request("ping", None, timeout)

    # ----------------------------------------------------------------- reading

    def _read_stdout(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        stream = self._proc.stdout
        try:
            for line in iter(stream.readline, b""):
                try:
                    self._handle_line(line)
                except Exception as exc:  # a bug here must not silence the rest of the stream
                    self._finding("fakeclaude_internal_error", f"{type(exc).__name__}: {exc}")
        except (OSError, ValueError):
            pass
        finally:
            with self._cond:
                self._stdout_eof = True
                self._cond.notify_all()

    def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        stream = self._proc.stderr
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        try:
            while True:
                chunk = stream.read1(65536)  # type: ignore[attr-defined]  # a BufferedReader (bufsize -1)
                if not chunk:
                    break
                text = decoder.decode(chunk)
                with self._cond:
                    self._stderr_chunks.append(text)
                if self.stderr_echo is not None:
                    with contextlib.suppress(Exception):
                        self.stderr_echo.write(text)
                        self.stderr_echo.flush()
        except (OSError, ValueError):
            pass

    @property
    def stderr(self) -> str:
        """Everything the adapter wrote to stderr so far (drained continuously by a thread)."""
        with self._cond:
            return "".join(self._stderr_chunks)

    def _handle_line(self, line: bytes) -> None:
        body = line[:-1] if line.endswith(b"\n") else line
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            record = self.recorder.record(
                "received", body.decode("utf-8", errors="replace"), None, kind="junk", note="not UTF-8"
            )
            self._junk(record)
            return
        try:
            message = json.loads(text)
        except ValueError:
            note = "empty line" if not text.strip() else "not JSON"
            record = self.recorder.record("received", text, None, kind="junk", note=note)
            self._junk(record)
            return
        record = self.recorder.record("received", text, message if isinstance(message, dict) else None)
        if record.kind == "junk":
            self._junk(record)
            return
        assert isinstance(message, dict)
        if record.kind == "response":
            self._on_response(record, message)
        elif record.kind == "request":
            self._on_server_request(record, message)
        else:
            self._on_notification(record, message)
        with self._cond:
            self._cond.notify_all()

    def _junk(self, record: WireRecord) -> None:
        self._finding("junk_on_stdout", f"{record.note}: {record.raw[:200]!r}", record=record)
        with self._cond:
            self._cond.notify_all()

    def _on_response(self, record: WireRecord, message: dict[str, Any]) -> None:
        msg_id = message.get("id")
        with self._cond:
            pending = self._pending.get(msg_id)
            if pending is not None and pending.response is None:
                if msg_id == self._initial_list_id and self.channel_ready_at is None:
                    self.channel_ready_at = record.at + self.channel_handler_delay
                if msg_id in self._handshake_ids and "result" in message:
                    self._absorb_handshake_result(pending.method, message["result"])
                elif msg_id in self._handshake_ids:
                    self._handshake_ids.discard(msg_id)
                pending.response = message
                self._cond.notify_all()
                return
        if msg_id is None and "error" in message:
            # JSON-RPC 2.0 section 5: the answer to a line whose id could not be read (junk the test
            # wrote with send_raw, say). It stays in the wire log; it is no stray response.
            return
        self._finding(
            "unexpected_response",
            f"response with id {msg_id!r} matches no open request (late, duplicate, or wrong id type)",
            record=record,
        )

    def _on_server_request(self, record: WireRecord, message: dict[str, Any]) -> None:
        method = message["method"]
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": message["id"]}
        if method == "ping":
            reply["result"] = {}
        elif method == "roots/list":
            root = (self.cwd or Path.cwd()).resolve()
            reply["result"] = {"roots": [{"uri": root.as_uri(), "name": root.name or "/"}]}
        else:
            reply["error"] = {"code": METHOD_NOT_FOUND, "message": f"Method not found: {method}"}
        self._tasks.put(lambda: self._write(reply))

    def _on_notification(self, record: WireRecord, message: dict[str, Any]) -> None:
        if message["method"] != CHANNEL_METHOD:
            with self._cond:
                self.notifications.append(record)
            return
        params = message.get("params")
        now = record.at
        reason = None
        if not self.channels:
            reason = DROPPED_NO_FLAG
        elif not self._handshake_answered:
            reason = DROPPED_EARLY
        elif self.channel_ready_at is None or now < self.channel_ready_at:
            after = "tools/list" if self._initial_list_id is not None else "handshake"
            delay_ms = round(self.channel_handler_delay * 1000)
            reason = DROPPED_BEFORE_HANDLER.format(delay_ms=delay_ms, after=after, profile=self.profile.id)
        elif not self.channel_capable:
            reason = DROPPED_NO_CAPABILITY
        elif self.drop_events is not None and isinstance(params, dict) and self.drop_events(params):
            reason = DROPPED_BY_TEST
        if reason is not None:
            with self._cond:
                self.dropped_events.append(DroppedEvent(params, reason, now, record))
                self._cond.notify_all()
            return
        try:
            checked = validate_params(params)
        except InvalidChannelParams as exc:
            self._finding("invalid_channel_params", str(exc), record=record)
            with self._cond:
                self._cond.notify_all()
            return
        if checked.dropped_keys:
            self._finding(
                "dropped_meta_keys",
                f"meta keys Claude Code drops: {', '.join(repr(k) for k in checked.dropped_keys)}",
                severity="warning",
                record=record,
            )
        assert isinstance(params, dict)
        event = ChannelEvent(
            content=checked.content,
            meta=dict(params.get("meta") or {}),
            rendered=render_channel(checked.content, checked.meta, self.source),
            received_at=now,
            dropped_keys=checked.dropped_keys,
            record=record,
        )
        if self.transcript is not None:
            self.transcript.channel_event(event.rendered)
        with self._cond:
            self.channel_events.append(event)
            self._cond.notify_all()
        callback = self.on_channel
        if callback is not None:

            def run_callback() -> None:
                try:
                    callback(event)
                except Exception as exc:
                    self._finding("callback_error", f"on_channel raised {type(exc).__name__}: {exc}", "warning")

            self._tasks.put(run_callback)

    def _dispatch(self) -> None:
        """Replies to server requests and on_channel callbacks, off the reader thread.

        So a callback may call the session (its responses are read meanwhile) and a reply never
        waits on the write lock while the reader must keep draining stdout.
        """
        while True:
            task = self._tasks.get()
            if task is None:
                return
            with contextlib.suppress(AdapterExited, RuntimeError):
                task()

    def _finding(
        self,
        kind: str,
        detail: str,
        severity: Literal["violation", "warning"] = "violation",
        record: WireRecord | None = None,
    ) -> None:
        with self._cond:
            self.findings.append(Finding(kind, detail, time.monotonic(), severity, record))
            self._cond.notify_all()

    # ----------------------------------------------------------------- findings

    @property
    def violations(self) -> list[Finding]:
        """Findings of severity "violation" (junk on stdout, invalid channel params, stray responses...)."""
        with self._cond:
            return [f for f in self.findings if f.severity == "violation"]

    @property
    def warnings(self) -> list[Finding]:
        """Findings of severity "warning" (dropped meta keys, a successful server/discover...)."""
        with self._cond:
            return [f for f in self.findings if f.severity == "warning"]

    @property
    def junk(self) -> list[WireRecord]:
        """stdout lines that were not JSON-RPC messages."""
        return self.recorder.junk()

    def report(self) -> str:
        """A summary for failure messages: opening, findings, events, dropped events, stderr tail."""
        lines = [f"session {self.name!r} adapter {self.manifest.id!r} opening {self.opening_used}"]
        with self._cond:
            findings = list(self.findings)
            events = list(self.channel_events)
            dropped = list(self.dropped_events)
        lines.append(f"{len(events)} channel event(s), {len(dropped)} dropped, {len(findings)} finding(s)")
        lines += [f"  {f.describe()}" for f in findings]
        lines += [f"  dropped ({d.reason}): {d.record.raw[:200]}" for d in dropped]
        tail = self.stderr.strip()[-1500:]
        if tail:
            lines.append("--- adapter stderr (tail) ---")
            lines.append(tail)
        return "\n".join(lines)

    # ----------------------------------------------------------------- channel events

    def wait_for_channel(
        self, predicate: Callable[[ChannelEvent], bool] | None = None, timeout: float = 5.0
    ) -> ChannelEvent:
        """The oldest matching event not yet returned by an earlier wait; waits up to ``timeout``.

        Raises ChannelTimeout listing what did arrive (events, dropped events, findings) when none
        matches in time, or sooner once the adapter has closed its stdout.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.channel_events:
                    if event.record.seq in self._taken:
                        continue
                    if predicate is None or predicate(event):
                        self._taken.add(event.record.seq)
                        return event
                remaining = deadline - time.monotonic()
                if self._stdout_eof or remaining <= 0:
                    break
                self._cond.wait(remaining)
        why = "adapter closed its stdout" if self._stdout_eof else f"none within {timeout:g}s"
        raise ChannelTimeout(f"no matching channel event: {why}\n{self.report()}")

    def clear_channel_events(self) -> None:
        """Forget received and dropped events (the wire log is separate: ``recorder.clear()``)."""
        with self._cond:
            self.channel_events.clear()
            self.dropped_events.clear()
            self._taken.clear()

    def assert_channel(self, content: Any = None, *, within: float = 0.0, **meta: Any) -> ChannelEvent:
        """Return an event (taken or not) with this content and meta, else AssertionError with near misses.

        Values may be strings or compiled regexes (``search``). Python keywords take a trailing
        underscore: ``from_="alice"`` checks ``meta["from"]``. ``within`` waits that long for one.
        """
        wanted = {key[:-1] if key.endswith("_") else key: value for key, value in meta.items()}

        def diffs(event: ChannelEvent) -> list[str]:
            out = []
            if content is not None and not _matches(content, event.content):
                out.append(f"content={event.content[:80]!r} (wanted {_show(content)})")
            for key, value in wanted.items():
                if key not in event.meta:
                    out.append(f"no meta {key!r} (wanted {_show(value)})")
                elif not _matches(value, event.meta[key]):
                    out.append(f"{key}={event.meta[key]!r} (wanted {_show(value)})")
            return out

        deadline = time.monotonic() + within
        with self._cond:
            while True:
                for event in self.channel_events:
                    if not diffs(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stdout_eof:
                    break
                self._cond.wait(remaining)
            events = list(self.channel_events)
            dropped = list(self.dropped_events)
            findings = list(self.findings)
        asked = ", ".join(
            ([f"content={_show(content)}"] if content is not None else [])
            + [f"{k}={_show(v)}" for k, v in wanted.items()]
        )
        lines = [f"no channel event with {asked or 'anything'} in session {self.name!r}"]
        ranked = sorted(events, key=lambda e: len(diffs(e)))
        lines.append(f"near misses ({len(events)} event(s) received):" if events else "no events received")
        lines += [f"  {e.rendered[:200]}\n    differs: {'; '.join(diffs(e))}" for e in ranked[:10]]
        lines += [f"  dropped ({d.reason}): {d.record.raw[:200]}" for d in dropped]
        lines += [f"  {f.describe()}" for f in findings]
        raise AssertionError("\n".join(lines))

    def wait_for_message(
        self,
        method: str | None = None,
        predicate: Callable[[WireRecord], bool] | None = None,
        timeout: float = 5.0,
        direction: Literal["sent", "received"] = "received",
    ) -> WireRecord:
        """The first wire record (in the log) with this method/direction matching ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for record in self.recorder.messages(direction, method):
                    if predicate is None or predicate(record):
                        return record
                remaining = deadline - time.monotonic()
                if self._stdout_eof or remaining <= 0:
                    break
                self._cond.wait(remaining)
        raise RequestTimeout(f"no {direction} message {method or ''} matched\n{self.recorder.dump(last=20)}")

    # ----------------------------------------------------------------- ending

    @property
    def pid(self) -> int | None:
        """The process fakeclaude started (the ``claude`` stand-in unless as_claude=False); None before start."""
        return self._proc.pid if self._proc is not None else None

    @property
    def adapter_pid(self) -> int | None:
        """The adapter's own process id (the stand-in's child; Linux /proc), None if unknown or gone."""
        pid = self.pid
        if pid is None or self.claude_argv is None:
            return pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    @property
    def returncode(self) -> int | None:
        """The adapter's exit code, or None while it runs."""
        return self._proc.poll() if self._proc is not None else None

    @property
    def alive(self) -> bool:
        """True while the adapter process runs."""
        return self._proc is not None and self._proc.poll() is None

    def wait_exit(self, timeout: float) -> int | None:
        """Wait for the adapter to exit by itself; its exit code, or None if still running."""
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self, timeout: float = 5.0) -> CloseResult:
        """Close stdin like Claude Code on exit; wait ``timeout`` s for the exit, else kill. Idempotent."""
        if self.close_result is not None:
            return self.close_result
        proc = self._proc
        if proc is None:
            self.close_result = CloseResult(None, False, None, False, timeout)
            return self.close_result
        already = proc.poll() is not None
        self._close_stdin()
        started = self._stdin_closed_at or time.monotonic()
        try:
            code = proc.wait(timeout)
            result = CloseResult(code, not already, time.monotonic() - started, False, timeout, already)
        except subprocess.TimeoutExpired:
            self._kill_group()
            code = proc.wait()
            result = CloseResult(code, False, None, True, timeout)
            self._finding("no_exit_on_eof", f"adapter did not exit within {timeout:g}s of stdin EOF; killed it")
        self._finish()
        self.close_result = result
        return result

    def shutdown(self) -> ShutdownResult:
        """End the adapter as the profile's client does when it quits: SIGINT, SIGTERM, SIGKILL on its
        schedule (Claude Code: SIGTERM ~100 ms after SIGINT, SIGKILL ~400 ms after that), each sent
        only while the adapter still runs. The result names the signals it took. Idempotent."""
        if self.shutdown_result is not None:
            return self.shutdown_result
        proc = self._proc
        if proc is None or proc.poll() is not None:
            self.close(timeout=1.0)
            self.shutdown_result = ShutdownResult(proc.poll() if proc is not None else None, (), 0.0)
            return self.shutdown_result
        started = time.monotonic()
        sent: list[str] = []
        code: int | None = None
        for step in self.profile.shutdown:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = proc.wait(max(0.0, started + step.after_ms / 1000 - time.monotonic()))
                break
            sent.append(step.name)
            if step.name == "SIGKILL":
                self._kill_group()
            else:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(getattr(signal, step.name))
        if code is None:
            code = proc.wait()
        seconds = time.monotonic() - started
        self.close(timeout=1.0)
        self.shutdown_result = ShutdownResult(code, tuple(sent), seconds)
        if "SIGKILL" in sent:
            self._finding("killed_on_shutdown", f"adapter still ran {seconds:.3f}s into the client's shutdown; SIGKILL")
        return self.shutdown_result

    def kill(self) -> int | None:
        """SIGKILL the adapter (and its process group) now; returns its exit code."""
        proc = self._proc
        if proc is None:
            return None
        if self.close_result is not None:
            return self.close_result.exit_code
        self._kill_group()
        code = proc.wait()
        self._close_stdin()
        self._finish()
        self.close_result = CloseResult(code, False, None, True, 0.0)
        return code

    def close_stdin(self) -> None:
        """Close the adapter's stdin (EOF) without waiting; ``close()`` then measures from this moment."""
        self._close_stdin()

    def _close_stdin(self) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            return
        with self._write_lock:
            if not proc.stdin.closed:
                with contextlib.suppress(OSError, ValueError):
                    proc.stdin.close()
                self._stdin_closed_at = time.monotonic()

    def _kill_group(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, OSError):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    def _finish(self) -> None:
        """Join the reader threads and close the pipes (after the process has exited)."""
        proc = self._proc
        assert proc is not None
        for thread in self._threads:
            thread.join(timeout=2.0)
        if any(t.is_alive() for t in self._threads):
            # A child of the adapter still holds the pipes: take the whole group down.
            with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            for thread in self._threads:
                thread.join(timeout=2.0)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.close()
        self._tasks.put(None)
        if self._dispatcher is not None and self._dispatcher is not threading.current_thread():
            self._dispatcher.join(timeout=2.0)
        with self._cond:
            self._stdout_eof = True
            self._cond.notify_all()

    def __repr__(self) -> str:
        state = "running" if self.alive else ("not started" if self._proc is None else "ended")
        return f"<fakeclaude.Session {self.name!r} adapter={self.manifest.id!r} {state}>"


def start_session(
    adapter: str | os.PathLike[str] | Manifest = "claude-mcp", *, timeout: float = 30.0, **kwargs: Any
) -> Session:
    """Construct a Session with ``kwargs`` and start it (launch + opening) within ``timeout``."""
    return Session(adapter, **kwargs).start(timeout)


def _matches(wanted: Any, actual: str) -> bool:
    if isinstance(wanted, re.Pattern):
        return wanted.search(actual) is not None
    return bool(wanted == actual)


def _show(value: Any) -> str:
    if isinstance(value, re.Pattern):
        return f"/{value.pattern}/"
    return repr(value)
