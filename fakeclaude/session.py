"""A fake Claude Code session: runs a real adapter over stdio, opens it like Claude Code, records the wire.

About 600 lines on purpose: ``Session`` is the one object tests hold, with some 25 documented
options, and its methods are a few lines each over ``process``, ``jsonrpc``, ``opening``, ``ending``,
``assertions`` and ``appserver``; what stays here is the handling of each line the adapter writes
(responses, its requests, channel events and why one is dropped) and of each input a codex adapter's
app-server accepts, whose state (one list of events, one condition) is the session's.

An adapter whose manifest names the ``app-server`` door (``"doors": ["app-server"]``) pushes through Codex's app-server,
not through channel notifications: its session plays Codex instead of Claude Code where they differ.
It runs a ``FakeAppServer`` (``app_server``) and gives the adapter its socket in
AGENTBUS_CODEX_SOCKET; each input the app-server accepts becomes a ``ChannelEvent`` (``via`` =
``codex-app-server``: the tag read back from the text), recorded like a channel notification, so
``wait_for_channel``, ``assert_channel``, ``on_channel`` and ``channel_events`` work unchanged. What is
Claude Code's only does not apply there: no channel handler delay (the app-server takes input at
once), no transcript, and channel notifications on stdio are dropped (Codex never shows MCP
notifications to its model). ``channels=False`` means no app-server: the adapter runs pull only.
The ``claude`` stand-in is then a ``codex app-server --listen unix://SOCKET`` stand-in.

A Claude Code session whose profile has a ``native_door`` (2.1.331 and later: the binary gives every
server its messaging socket) plays that socket too (``messaging``, fakeclaude/native.py; ``native``
turns it on or off): the adapter gets CLAUDE_CODE_MESSAGING_SOCKET and CLAUDE_CODE_MESSAGING_TOKEN,
and each text written there is a ``ChannelEvent`` (``via`` = ``native``: the tag read back from the
text), kept at once however early it comes (no handler to wait for), written to the transcript as
Claude Code does (enqueued as written; shown to the model inside the profile's framing, with the
profile's origin, ``peer`` from ``unknown``, and the writer's pid), and dropped by ``drop_events``
like a channel event.
"""

import contextlib
import json
import os
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, Final

from agentbus.manifest import Manifest, resolve_adapter
from fakeclaude.appserver import FakeAppServer
from fakeclaude.claude_shim import stand_in
from fakeclaude.ending import SessionEnding
from fakeclaude.errors import (
    AdapterExited,
    HandshakeError,
    JsonRpcError,
)
from fakeclaude.gemini_hooks import GeminiHooks
from fakeclaude.inbound import (
    DROPPED_BEFORE_HANDLER,
    DROPPED_BY_CODEX,
    DROPPED_BY_TEST,
    DROPPED_EARLY,
    DROPPED_NO_CAPABILITY,
    DROPPED_NO_FLAG,
    SessionInbound,
)
from fakeclaude.jsonrpc import JsonRpcClient
from fakeclaude.native import FakeMessagingSocket
from fakeclaude.opening import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    DISCOVER_PROBE_ID,
    DISCOVER_PROTOCOL_VERSION,
    PROTOCOL_VERSION_META_KEY,
    Opening,
    OpeningUsed,
    SessionOpening,
)
from fakeclaude.process import AdapterProcess, adapter_env
from fakeclaude.profiles import Profile
from fakeclaude.profiles import load as load_profile
from fakeclaude.recorder import Recorder, WireRecord
from fakeclaude.results import ChannelEvent, CloseResult, DroppedEvent, Finding, ShutdownResult, ToolResult
from fakeclaude.transcript import TranscriptWriter, transcript_path

__all__ = [
    "DISCOVER_PROBE_ID",
    "DROPPED_BEFORE_HANDLER",
    "DROPPED_BY_CODEX",
    "DROPPED_BY_TEST",
    "DROPPED_EARLY",
    "DROPPED_NO_CAPABILITY",
    "DROPPED_NO_FLAG",
    "ChannelEvent",
    "Session",
    "ToolResult",
    "start_session",
]

METHOD_NOT_FOUND = -32601
#: The door of adapters that push through Codex's app-server (SPEC section 8b), and how their events come.
APP_SERVER_DOOR: Final = "app-server"
HOOK_DOOR: Final = "hook"
CODEX_SOCKET_VARIABLE = "AGENTBUS_CODEX_SOCKET"


class Session(SessionOpening, SessionInbound, SessionEnding):
    """One fake Claude Code session talking to one adapter process over stdio.

    Construct, then ``start()`` (or use ``with``); everything is synchronous: reader threads fill
    the wire log and the channel event list, and waits block on a Condition with a deadline.
    The process lives in ``fakeclaude.process``, the request/response bookkeeping in
    ``fakeclaude.jsonrpc``, the wire log in ``fakeclaude.recorder``, the opening in
    ``fakeclaude.opening``, the ending in ``fakeclaude.ending``, findings and assertions in
    ``fakeclaude.assertions``; this class ties them together and turns what the adapter says into
    channel events.
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
        native: bool | None = None,
    ) -> None:
        self.profile = client if isinstance(client, Profile) else load_profile(client)
        self.manifest = adapter if isinstance(adapter, Manifest) else resolve_adapter(os.fspath(adapter))
        #: The adapter pushes through Codex's app-server (manifest door ``app-server``).
        self.via_app_server = APP_SERVER_DOOR in self.manifest.doors
        #: The adapter's mail reaches the model at Gemini CLI's boundaries, through its hooks (manifest door ``hook``).
        self.via_hooks = HOOK_DOOR in self.manifest.doors
        if self.via_app_server or self.via_hooks:
            channel_handler_delay, transcript = 0.0, False  # Claude Code's habits, not Codex's nor Gemini's
        if opening is None:
            opening = "discover" if self.profile.discover_probe is not None else "initialize"
        if opening not in ("initialize", "discover"):
            raise ValueError(f"opening must be 'initialize' or 'discover', not {opening!r}")
        initialize_params = self.profile.initialize["params"]
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
        self.env = adapter_env(env, inherit=inherit_env, name=self.name, bus_home=self.bus_home, home=self.home)
        if self.via_hooks and "AGENTBUS_PUSH" not in (env or {}):
            # What `agentbus enable gemini` writes into Gemini's settings, said directly: this client runs the hook.
            self.env["AGENTBUS_PUSH"] = HOOK_DOOR if channels else "off"
        #: Gemini CLI's hook calls (the hook door, with ``channels``): started with the adapter.
        self.gemini: GeminiHooks | None = None
        #: The fake Codex app-server this session's adapter pushes through (codex-app-server delivery only;
        #: not with ``channels=False``, nor when ``env`` names a socket of its own).
        self.app_server: FakeAppServer | None = None
        if self.via_app_server and channels and CODEX_SOCKET_VARIABLE not in (env or {}):
            codex_home = str(Path(self.env.get("HOME") or os.path.expanduser("~")) / ".codex")
            self.app_server = FakeAppServer(on_input=self._on_app_server_input, codex_home=codex_home)
            self.app_server.server_name = self.manifest.server_name
            self.env[CODEX_SOCKET_VARIABLE] = str(self.app_server.socket)
        #: Claude Code's messaging socket (the native door), when the profile's client opens one.
        self.messaging: FakeMessagingSocket | None = None
        if not self.via_app_server and (self.profile.native_door is not None if native is None else native):
            self.messaging = FakeMessagingSocket(on_write=self._on_native_write)
            self.env.update(self.messaging.env)
        #: The argv of the client stand-in the adapter runs under (None: no stand-in, ``as_claude=False``).
        self.claude_argv: tuple[str, ...] | None = None
        if as_claude and self.via_app_server:
            listen = ("app-server", "--listen", f"unix://{self.app_server.socket}") if self.app_server else ()
            self.claude_argv = ("codex", *listen)
        elif as_claude and self.via_hooks:
            self.claude_argv = ("gemini",)
        elif as_claude:
            flags = ("--dangerously-load-development-channels", f"server:{self.source}") if channels else ()
            self.claude_argv = ("claude", *flags)
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

        self._process: AdapterProcess | None = None
        #: The one Condition of the session: the reader thread notifies it on every line and at EOF.
        self._cond = threading.Condition()
        self._rpc = JsonRpcClient(
            self._cond, self.recorder, self._write_bytes, lambda: self._stdout_eof, self._exit_hint
        )
        self._handshake_ids: set[Any] = set()
        self._handshake_answered = False
        self._initial_list_id: int | None = None
        self._modern = False
        self._taken: set[int] = set()
        self._stdout_eof = False
        self._tasks: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()
        self._dispatcher: threading.Thread | None = None

    # ----------------------------------------------------------------- setup

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
        """The model is busy (a long turn): channel events are queued, not seen, until ``end_turn``.

        Through Codex's app-server: a turn runs, and inputs join it (``turn/start`` answers its id)."""
        if self.transcript is not None:
            self.transcript.begin_turn()
        if self.app_server is not None:
            self.app_server.begin_turn()
        if self.gemini is not None:
            self.gemini.fire("BeforeAgent")

    def end_turn(self) -> None:
        """The turn ends: queued channel events reach the model (written to the transcript as seen)."""
        if self.transcript is not None:
            self.transcript.end_turn()
        if self.app_server is not None:
            self.app_server.end_turn()
        if self.gemini is not None:
            self.gemini.fire("AfterAgent")

    @property
    def command(self) -> list[str]:
        """What is executed: the manifest command, behind the ``claude`` stand-in unless as_claude=False."""
        return self._launch_spec()[0]

    def _launch_spec(self) -> tuple[list[str], str | None, dict[str, str]]:
        if self.claude_argv is None:
            return list(self.manifest.command), None, self.env
        return stand_in(self.claude_argv[1:], self.manifest.command, self.env, program=self.claude_argv[0])

    def start(self, timeout: float = 30.0) -> "Session":
        """``launch()`` then ``open(timeout)``: the whole start of a Claude Code session."""
        return self.launch().open(timeout)

    def launch(self) -> "Session":
        """Start the adapter process and its reader threads, without saying anything to it yet."""
        if self._process is not None:
            raise RuntimeError("session already started")
        argv, executable, env = self._launch_spec()
        if self.app_server is not None:
            self.app_server.start()  # Codex's app-server is up before it starts its MCP servers
        if self.messaging is not None:
            self.messaging.start()  # Claude Code listens before it starts its servers
        # Set before the readers start: a reply to the adapter's first request is written through it.
        self._process = AdapterProcess(
            argv, env=env, executable=executable, cwd=self.cwd, label=self.name, stderr_echo=self.stderr_echo
        )
        try:
            self._process.start(self._on_stdout_line, self._on_stdout_eof)
        except OSError as exc:
            self._process = None
            self._close_doors()
            raise HandshakeError(f"cannot start adapter {self.manifest.command!r}: {exc}") from exc
        if self.via_hooks and self.channels:
            # Gemini's hooks are its children, as the adapter is; these are this process's: they name
            # the Gemini (the stand-in, else the adapter's parent: this process) whose adapter they ask.
            client = self._process.pid if self.claude_argv is not None else os.getpid()
            hook_env = {**self.env, "AGENTBUS_GEMINI_PID": str(client)}
            self.gemini = GeminiHooks(self.manifest.hook_command, hook_env, self.cwd, self._on_hook_text)
        self._dispatcher = threading.Thread(target=self._dispatch, name=f"fakeclaude-{self.name}-dispatch", daemon=True)
        self._dispatcher.start()
        return self

    def open(self, timeout: float = 30.0) -> "Session":
        """Run the opening as the profile's client does: the probe (if any), ``initialize``, then
        ``notifications/initialized`` and ``tools/list`` written together (if the server has the
        tools capability and ``list_tools_on_start``). On failure the process is ended and
        HandshakeError (with the adapter's stderr) raised."""
        if self._process is None:
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
        if self._process is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- wire

    def _write_bytes(self, data: bytes) -> None:
        if self._process is None:
            raise RuntimeError("session not started")
        self._process.write(data)

    def send_raw(self, line: str | bytes, newline: bool = True) -> WireRecord:
        """Write bytes as they are (malformed input welcome); a newline is appended unless present."""
        return self._rpc.send_raw(line, newline)

    def request(self, method: str, params: Mapping[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
        """Send a request and return the raw JSON-RPC response (it has ``result`` or ``error``)."""
        msg_id = self._rpc.new_id()
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
        return self._rpc.write(message)

    def _exit_hint(self) -> str:
        process = self._process
        code = None
        if process is not None and self._stdout_eof:
            # stdout closes a moment before the exit status and the last stderr bytes are in.
            code = process.wait_exit(0.5)
            process.join_readers(0.5)
        elif process is not None:
            code = process.poll()
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
        if self.gemini is not None:
            self.gemini.fire("AfterTool")  # Gemini's boundary after every tool call
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

    def _on_stdout_line(self, line: bytes) -> None:
        try:
            self._handle_line(line)
        except Exception as exc:  # a bug here must not silence the rest of the stream
            self._finding("fakeclaude_internal_error", f"{type(exc).__name__}: {exc}")

    def _on_stdout_eof(self) -> None:
        with self._cond:
            self._stdout_eof = True
            self._cond.notify_all()

    @property
    def stderr(self) -> str:
        """Everything the adapter wrote to stderr so far (drained continuously by a thread)."""
        return self._process.stderr if self._process is not None else ""

    def _handle_line(self, line: bytes) -> None:
        record = self.recorder.record_received(line)
        if record.kind == "junk":
            self._junk(record)
            return
        message = record.message
        assert message is not None
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
            pending = self._rpc.open_request(msg_id)
            if pending is not None:
                if msg_id == self._initial_list_id and self.channel_ready_at is None:
                    self.channel_ready_at = record.at + self.channel_handler_delay
                if pending.method == "tools/list" and self.app_server is not None and "result" in message:
                    result = message["result"]
                    meta = result.get("_meta") if isinstance(result, dict) else None
                    self.app_server.tool_list_meta = meta if isinstance(meta, dict) else None
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
        self._tasks.put(lambda: self._rpc.write(reply))

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

    def __repr__(self) -> str:
        state = "running" if self.alive else ("not started" if self._process is None else "ended")
        return f"<fakeclaude.Session {self.name!r} adapter={self.manifest.id!r} {state}>"


def start_session(
    adapter: str | os.PathLike[str] | Manifest = "claude-mcp", *, timeout: float = 30.0, **kwargs: Any
) -> Session:
    """Construct a Session with ``kwargs`` and start it (launch + opening) within ``timeout``."""
    return Session(adapter, **kwargs).start(timeout)
