"""A fake Codex app-server: the WebSocket on a Unix socket that the codex adapter pushes through.

It answers what the adapter sends, shaped as ``codex app-server`` 0.169.0 answered here (docs/codex.md;
the frames were compared with the binary's): answers carry no ``jsonrpc`` member, as Codex's do;
``initialize`` -> ``{userAgent, codexHome, platformFamily, platformOs}``; the notification
``initialized``; ``thread/loaded/list`` -> ``{data: [threadId, ...], nextCursor: null}``;
``mcpServerStatus/list {threadId, serverName}`` -> the server's status on that thread, whose
``toolListMeta`` is the ``_meta`` of the adapter's ``tools/list`` answer on the session's own thread
(0.171.0 reports it so; other threads' connections are other processes);
``turn/start {threadId, input: [{type: "text", text}]}`` -> ``{turn: {id, rootTurnId, items: [],
itemsView: "notLoaded", status: "inProgress", error: null, startedAt: null, ...}}``; a request before
``initialize`` -> -32600 "Not initialized"; a method it does not serve -> -32600 "Invalid request:
unknown variant ..." (Codex's own code for an unknown method, not -32601). While a turn runs
(``begin_turn`` until ``end_turn``) a ``turn/start`` joins it: the answer carries the running turn's
id, as Codex 0.169.0 did for a second ``turn/start`` on a busy thread. Otherwise each turn ends as
soon as it is answered (a model that answers at once), so the next input starts a new turn.

Every frame both ways is in ``recorder`` (``received`` = from the adapter, ``sent`` = to it). Each
``turn/start`` the fake answered with a result is an ``accepted`` ``TurnInput`` (``inputs``), with the
monotonic time of the answer; ``on_input`` is called with it right after the answer is written, so a
listener never sees an input Codex did not take. Switches for the tests of "delivered only when Codex
accepted it, pushed again otherwise": ``refuse()`` answers ``turn/start`` with an error (kept in
``refusals``), ``hold()`` keeps the answer back until ``release()`` (the request is read, not
answered: the adapter waits), ``vanish()`` closes every connection and the socket as a dying Codex
would, ``come_back()`` listens on the same path again, ``accept()`` undoes ``refuse``.

Strictness of the fake's own (its wording not seen on the binary): a ``turn/start`` on a thread that
is not loaded, or without a text item, is refused with -32600. Frames without ``jsonrpc`` are
served like Codex serves them. The socket lives in a directory made under /tmp, so its path fits the
107 bytes of AF_UNIX whatever the caller's temporary directory.
"""

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fakeclaude.recorder import Recorder, WireRecord, classify

#: Codex answers unknown methods, requests before initialize and bad params with this code.
INVALID_REQUEST = -32600
#: What codex 0.169.0 answers to ``initialize`` (the values of a Linux host).
PLATFORM = {"platformFamily": "unix", "platformOs": "linux"}
USER_AGENT = "codex_cli_rs/0.169.0 (fakeclaude app-server)"

Mode = Literal["accept", "refuse", "hold"]


@dataclass(frozen=True)
class TurnInput:
    """One ``turn/start`` the fake answered: its thread, turn, text, the request's record and the answer.

    ``accepted`` is True when the answer was a result (Codex took the input), False for a refusal
    (``error`` holds it). ``at`` is ``time.monotonic()`` when the answer was written.
    """

    thread_id: str
    turn_id: str | None
    text: str
    at: float
    record: WireRecord
    accepted: bool
    error: dict[str, Any] | None = None


class FakeAppServer:
    """``codex app-server --listen unix://SOCKET`` for one session, in a thread of the test process.

    ``threads`` are the loaded thread ids (the TUI's thread first, as ``thread/loaded/list`` lists it);
    ``start()`` listens, ``close()`` stops and removes the socket's directory. See the module docstring
    for the switches.
    """

    def __init__(
        self,
        *,
        threads: list[str] | None = None,
        on_input: Callable[[TurnInput], None] | None = None,
        codex_home: str = "~/.codex",  # what initialize reports as codexHome
    ) -> None:
        self.socket_dir = Path(tempfile.mkdtemp(prefix="fakecodex-", dir="/tmp"))
        self.socket = self.socket_dir / "app-server.sock"
        self.threads: list[str] = list(threads) if threads else [str(uuid.uuid4())]
        self.on_input = on_input
        self.codex_home = codex_home
        self.recorder = Recorder()
        self.inputs: list[TurnInput] = []
        self.refusals: list[TurnInput] = []
        #: Connections accepted so far (the adapter reconnects after the app-server came back).
        self.connections = 0
        self.mode: Mode = "accept"
        self.refusal: dict[str, Any] = {"code": INVALID_REQUEST, "message": "turn/start refused (fakeclaude)"}
        self.running_turn: str | None = None
        #: The MCP server name the session's adapter is registered under, and the ``_meta`` of its last
        #: ``tools/list`` answer (what Codex reports per thread as ``toolListMeta``; the session sets it).
        self.server_name = "agentbus"
        self.tool_list_meta: dict[str, Any] | None = None
        self._cond = threading.Condition()
        self._server: Any = None
        self._serving: threading.Thread | None = None

    # ----------------------------------------------------------------- life

    def start(self) -> "FakeAppServer":
        """Listen on ``socket`` (a daemon thread serves it; one thread per connection)."""
        from websockets.sync.server import unix_serve

        with self._cond:
            if self._server is not None:
                raise RuntimeError("the fake app-server is already listening")
            server = unix_serve(self._serve_connection, str(self.socket))
            self._server = server
        self._serving = threading.Thread(target=self._run, args=(server,), name="fakecodex-app-server", daemon=True)
        self._serving.start()
        return self

    def _run(self, server: Any) -> None:
        with server:  # websockets 17 wants its server used as a context
            server.serve_forever()

    def vanish(self) -> None:
        """Go away as a dying Codex does: every connection closed, nothing listening, the socket gone."""
        with self._cond:
            server, self._server = self._server, None
            self._cond.notify_all()  # a held answer is never written
        if server is not None:
            server.shutdown()
        if self._serving is not None:
            self._serving.join(timeout=5.0)
            self._serving = None
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()

    def come_back(self) -> "FakeAppServer":
        """Listen on the same socket again (after ``vanish``), with the same threads."""
        return self.start()

    def close(self) -> None:
        """Stop serving and remove the socket's directory. Idempotent."""
        self.vanish()
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    @property
    def listening(self) -> bool:
        """True while the socket accepts connections."""
        return self._server is not None

    # ----------------------------------------------------------------- switches

    def accept(self) -> None:
        """Answer ``turn/start`` with a result again (and write any held answer)."""
        self._set_mode("accept")

    def refuse(self, message: str = "turn/start refused (fakeclaude)", code: int = INVALID_REQUEST) -> None:
        """Answer every ``turn/start`` with this JSON-RPC error until ``accept()``."""
        with self._cond:
            self.refusal = {"code": code, "message": message}
        self._set_mode("refuse")

    def hold(self) -> None:
        """Read ``turn/start`` requests but keep their answers back until ``release()`` (or ``accept``)."""
        self._set_mode("hold")

    def release(self) -> None:
        """Write the held answers (results) and accept from now on."""
        self._set_mode("accept")

    def _set_mode(self, mode: Mode) -> None:
        with self._cond:
            self.mode = mode
            self._cond.notify_all()

    def begin_turn(self) -> str:
        """A turn runs on the first thread (the model is busy): later inputs join it. Its id."""
        with self._cond:
            if self.running_turn is None:
                self.running_turn = self._new_turn_id()
            return self.running_turn

    def end_turn(self) -> None:
        """The running turn completes: the next input starts a new turn."""
        with self._cond:
            self.running_turn = None

    def _new_turn_id(self) -> str:
        return str(uuid.uuid4())

    # ----------------------------------------------------------------- waits and views

    def wait_for_input(self, predicate: Callable[[TurnInput], bool] | None = None, timeout: float = 5.0) -> TurnInput:
        """The first accepted input matching ``predicate``; AssertionError naming what came instead."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for found in self.inputs:
                    if predicate is None or predicate(found):
                        return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
        raise AssertionError(f"no matching input reached the fake app-server within {timeout:g}s\n{self.describe()}")

    def turn_starts(self) -> list[WireRecord]:
        """Every ``turn/start`` request the adapter sent, answered or not, oldest first."""
        return self.recorder.received("turn/start")

    def describe(self, last: int = 12) -> str:
        """A summary for failure messages: state, inputs, refusals and the last frames."""
        state = "listening" if self.listening else "not listening"
        with self._cond:
            accepted, refused = len(self.inputs), len(self.refusals)
            mode = self.mode
        lines = [
            f"fake app-server at {self.socket} ({state}, mode {mode}, {self.connections} connection(s)): "
            f"{accepted} input(s) accepted, {refused} refused",
            self.recorder.dump(last=last),
        ]
        return "\n".join(lines)

    # ----------------------------------------------------------------- serving

    def _serve_connection(self, connection: Any) -> None:
        with self._cond:
            self.connections += 1
        initialized = False
        try:
            for frame in connection:
                text = frame if isinstance(frame, str) else bytes(frame).decode("utf-8", errors="replace")
                try:
                    message = json.loads(text)
                except ValueError:
                    self.recorder.record("received", text, None, kind="junk", note="not JSON")
                    continue
                if not isinstance(message, dict):
                    self.recorder.record("received", text, None, kind="junk", note="not a JSON object")
                    continue
                kind, note = classify({"jsonrpc": "2.0", **message})  # Codex needs no jsonrpc member
                record = self.recorder.record("received", text, message, kind=kind, note=note)
                if record.kind != "request":
                    continue  # ``initialized`` and any other notification need no answer
                method = str(message["method"])
                if method == "initialize":
                    initialized = True
                    answer = self._result(message, self._initialize_result())
                elif not initialized:
                    answer = self._error(message, INVALID_REQUEST, "Not initialized")
                elif method == "thread/loaded/list":
                    answer = self._result(message, {"data": list(self.threads), "nextCursor": None})
                elif method == "turn/start":
                    self._turn_start(connection, record, message)
                    continue
                elif method == "mcpServerStatus/list":
                    answer = self._server_status(message)
                else:
                    answer = self._error(message, INVALID_REQUEST, f"Invalid request: unknown variant `{method}`")
                self._send(connection, answer)
        except Exception:  # the connection went away (vanish, or the adapter exited)
            return

    def _server_status(self, message: dict[str, Any]) -> dict[str, Any]:
        """``mcpServerStatus/list {threadId, serverName}``: the named server's connection of that thread.
        Only the session's own thread (the first) has the adapter under test on it, so only there does
        ``toolListMeta`` hold what the adapter's ``tools/list`` answer carried; without a server name Codex
        starts a fresh connection for discovery (0.171.0), which is not the adapter's."""
        given = message.get("params")
        params: dict[str, Any] = given if isinstance(given, dict) else {}
        thread, name = params.get("threadId"), params.get("serverName")
        if thread is not None and thread not in self.threads:
            return self._error(message, INVALID_REQUEST, f"thread not found: {thread}")
        ours = thread == self.threads[0] and name == self.server_name
        status = {"name": name or self.server_name, "runtimeStatus": "connected", "toolListMeta": None}
        if ours:
            status["toolListMeta"] = self.tool_list_meta
        return self._result(message, {"data": [status], "nextCursor": None})

    def _initialize_result(self) -> dict[str, Any]:
        return {"userAgent": USER_AGENT, "codexHome": os.path.expanduser(self.codex_home), **PLATFORM}

    def _turn_start(self, connection: Any, record: WireRecord, message: dict[str, Any]) -> None:
        given = message.get("params")
        params: dict[str, Any] = given if isinstance(given, dict) else {}
        thread = params.get("threadId")
        items = params.get("input")
        texts = [
            item["text"]
            for item in (items if isinstance(items, list) else [])
            if isinstance(item, dict) and item.get("type") == "text" and isinstance(item.get("text"), str)
        ]
        if thread not in self.threads:
            self._send(connection, self._error(message, INVALID_REQUEST, f"thread not found: {thread}"))
            return
        if not texts:
            self._send(connection, self._error(message, INVALID_REQUEST, "input has no text item"))
            return
        with self._cond:
            while self.mode == "hold" and self._server is not None:
                self._cond.wait()
            if self._server is None:
                return  # vanished while the answer was held: it is never written
            error = dict(self.refusal) if self.mode == "refuse" else None
            turn_id = None if error is not None else (self.running_turn or self._new_turn_id())
        if error is not None:
            self._send(connection, self._error(message, int(error["code"]), str(error["message"])))
        else:
            turn: dict[str, Any] = {"id": turn_id, "rootTurnId": turn_id, "items": [], "itemsView": "notLoaded"}
            turn.update(status="inProgress", error=None, startedAt=None, completedAt=None, durationMs=None)
            self._send(connection, self._result(message, {"turn": turn}))
        at = time.monotonic()
        taken = [TurnInput(str(thread), turn_id, text, at, record, error is None, error) for text in texts]
        with self._cond:
            (self.refusals if error is not None else self.inputs).extend(taken)
            self._cond.notify_all()
        callback = self.on_input
        if callback is not None and error is None:
            for each in taken:
                callback(each)

    @staticmethod
    def _result(request: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
        return {"id": request["id"], "result": result}

    @staticmethod
    def _error(request: dict[str, Any], code: int, text: str) -> dict[str, Any]:
        return {"error": {"code": code, "message": text}, "id": request["id"]}

    def _send(self, connection: Any, message: dict[str, Any]) -> None:
        raw = json.dumps(message, separators=(",", ":"))
        connection.send(raw)
        self.recorder.record("sent", raw, message, kind="response")

    def __enter__(self) -> "FakeAppServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<fakeclaude.FakeAppServer {self.socket} {'listening' if self.listening else 'closed'}>"
