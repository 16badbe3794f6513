"""A loopback stand-in for the Gemini API (generativelanguage v1beta), so the real Gemini CLI runs offline.

Gemini CLI (with ``GOOGLE_GEMINI_BASE_URL`` pointing here and ``gemini-api-key`` auth) POSTs
``/v1beta/models/{model}:streamGenerateContent?alt=sse`` for its conversation and
``:generateContent`` for its utility calls: the model router's complexity classifier before each
prompt, and when they run, the next-speaker check (off: ``model.skipNextSpeakerCheck``), loop
detection (after 30 turns) and, at start, a summary of the project's previous session. The first
three ask for JSON that follows a ``responseJsonSchema``. A request that declares tools
(``functionDeclarations``) is a conversation turn: the first ``GeminiRule`` whose ``when`` matches
answers it with a text or a ``FunctionCall``. A utility call gets a JSON object built from its
schema (``next_speaker`` "user", every confidence and score at its lowest), any other request a
short text; ``:countTokens`` a small count; an unknown path ``{}`` (kept in ``other_requests``).

The default rules answer a ``<channel source="agentbus" from="X" msg_id="N">ping</channel>`` tag in
the newest user content with a call of the agentbus MCP tool ``send_message(to=X, text="pong",
reply_to=N)``, named as the request declares it (Gemini CLI 0.61.0: ``mcp_agentbus_send_message``),
and a function response with a short text. Every generate request is kept (``requests``) with its
arrival time.
"""

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fakeclaude.live.model import ChannelTag, channel_tags

SERVER_NAME = "agentbus"
#: ``/v1beta/models/{model}:{method}`` (the model may hold dots and dashes, never a colon).
MODEL_PATH = re.compile(r"/models/([^/:]+):([A-Za-z]+)$")
STREAM = "streamGenerateContent"
GENERATE = "generateContent"
#: What a utility call's schema gets for these properties (what lets the turn go on undisturbed).
SCHEMA_ANSWERS: dict[str, Any] = {
    "next_speaker": "user",
    "unproductive_state_confidence": 0.0,
    "complexity_score": 1,
}


@dataclass
class FunctionCall:
    """The model's answer: call ``name`` with ``args``.

    ``name`` is matched against the request's declared functions: the exact name, else
    ``mcp_<server>_<name>`` (how Gemini CLI names an MCP server's tool), else the one declared name
    ending in ``_<name>``; a name that matches nothing is sent as it is.
    """

    name: str
    args: dict[str, Any] = field(default_factory=dict)


Reply = str | FunctionCall


@dataclass
class GeminiRequest:
    """One generate request Gemini CLI made; ``at`` is ``time.monotonic()`` on arrival."""

    path: str
    body: dict[str, Any]
    at: float
    replied_at: float | None = None
    reply: Reply | None = None

    @property
    def model(self) -> str:
        match = MODEL_PATH.search(self.path)
        return match.group(1) if match else ""

    @property
    def method(self) -> str:
        """``streamGenerateContent`` or ``generateContent``."""
        match = MODEL_PATH.search(self.path)
        return match.group(2) if match else ""

    @property
    def contents(self) -> list[dict[str, Any]]:
        contents = self.body.get("contents")
        return [c for c in contents if isinstance(c, dict)] if isinstance(contents, list) else []

    @property
    def function_names(self) -> list[str]:
        """The names of the functions the request declares (built-in tools and MCP tools)."""
        tools = self.body.get("tools")
        names = []
        for tool in tools if isinstance(tools, list) else []:
            for declaration in tool.get("functionDeclarations") or [] if isinstance(tool, dict) else []:
                if isinstance(declaration, dict) and "name" in declaration:
                    names.append(str(declaration["name"]))
        return names

    def is_main_loop(self) -> bool:
        """A turn of the session's conversation (it declares tools), not a utility call."""
        return bool(self.function_names)

    def response_schema(self) -> dict[str, Any] | None:
        config = self.body.get("generationConfig")
        schema = (config or {}).get("responseJsonSchema") or (config or {}).get("responseSchema")
        return schema if isinstance(schema, dict) else None

    def text(self) -> str:
        """Every text and function response of the conversation, joined (what the model was shown)."""
        return "\n".join(_texts(self.contents))

    def last_user_texts(self) -> list[str]:
        """The texts of the newest user content: a typed prompt (after the session context on the
        first turn), hook context, and each function response as its JSON."""
        for content in reversed(self.contents):
            if content.get("role") == "user":
                return list(_texts([content]))
        return []

    def function_responses(self) -> list[tuple[str, dict[str, Any]]]:
        """(name, response) of each ``functionResponse`` in the newest user content."""
        for content in reversed(self.contents):
            if content.get("role") != "user":
                continue
            return [
                (str(part["functionResponse"].get("name", "")), dict(part["functionResponse"].get("response") or {}))
                for part in _parts(content)
                if isinstance(part.get("functionResponse"), dict)
            ]
        return []

    def is_function_response(self) -> bool:
        return bool(self.function_responses())

    def resolve(self, name: str, server: str = SERVER_NAME) -> str:
        """The declared function ``name`` stands for (see ``FunctionCall``)."""
        declared = self.function_names
        if name in declared:
            return name
        if f"mcp_{server}_{name}" in declared:
            return f"mcp_{server}_{name}"
        ending = [declared_name for declared_name in declared if declared_name.endswith(f"_{name}")]
        return ending[0] if len(ending) == 1 else name


@dataclass
class GeminiRule:
    """``when(request)`` true -> ``reply(request)``: a text, or a function call."""

    when: Callable[[GeminiRequest], bool]
    reply: Callable[[GeminiRequest], Reply]
    name: str = ""


def pings(request: GeminiRequest) -> list[ChannelTag]:
    """The ``ping`` channel tags in the newest user content of a conversation turn."""
    if not request.is_main_loop() or request.is_function_response():
        return []
    return [tag for text in request.last_user_texts() for tag in channel_tags(text) if tag.body == "ping"]


def answer_pings() -> GeminiRule:
    """A ``ping`` channel tag -> ``send_message(to=from, text="pong", reply_to=msg_id)``."""

    def reply(request: GeminiRequest) -> Reply:
        tag = pings(request)[-1]
        args: dict[str, Any] = {"to": tag.attributes.get("from", ""), "text": "pong"}
        if tag.attributes.get("msg_id", "").isdigit():
            args["reply_to"] = int(tag.attributes["msg_id"])
        return FunctionCall("send_message", args)

    return GeminiRule(lambda request: bool(pings(request)), reply, "answer pings")


def call_on_prompt(prompt: str, tool: str, args: dict[str, Any] | None = None) -> GeminiRule:
    """A typed prompt equal to ``prompt`` (the newest user text, not a function response) -> call ``tool``."""

    def when(request: GeminiRequest) -> bool:
        return (
            request.is_main_loop()
            and not request.is_function_response()
            and any(text.strip() == prompt for text in request.last_user_texts())
        )

    return GeminiRule(when, lambda _request: FunctionCall(tool, dict(args or {})), f"prompt {prompt!r} -> {tool}")


def after_function_response(text: str = "Done.") -> GeminiRule:
    """A function response -> a short text (the turn ends)."""

    def when(request: GeminiRequest) -> bool:
        return request.is_main_loop() and request.is_function_response()

    return GeminiRule(when, lambda _request: text, "after a function response")


def default_rules() -> list[GeminiRule]:
    return [answer_pings(), after_function_response()]


@dataclass
class OtherRequest:
    """A request to a path the fake does not model (answered ``{}``)."""

    method: str
    path: str
    body: str
    at: float


@dataclass
class FakeGeminiApi:
    """``with FakeGeminiApi() as api: api.base_url`` for ``GOOGLE_GEMINI_BASE_URL``."""

    rules: list[GeminiRule] = field(default_factory=default_rules)
    requests: list[GeminiRequest] = field(default_factory=list)
    other_requests: list[OtherRequest] = field(default_factory=list)
    fallback_text: str = "ok"

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the API first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "FakeGeminiApi":
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                return None

            def do_GET(self) -> None:
                api._other(self.command, self.path, "")
                self._json({})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                match = MODEL_PATH.search(path)
                method = match.group(2) if match else ""
                if method not in (STREAM, GENERATE):
                    api._other(self.command, self.path, raw.decode("utf-8", "replace"))
                    self._json({"totalTokens": 10} if method == "countTokens" else {})
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                request = api._record(path, body if isinstance(body, dict) else {})
                reply = api._reply(request)
                response = api._response(request, reply)
                try:
                    if method == STREAM:
                        self._stream(response)
                    else:
                        self._json(response)
                except OSError:  # the client hung up (an interrupted turn, a quitting session)
                    self.close_connection = True
                    return
                api._replied(request, reply)

            def _json(self, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, chunk: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(f"data: {json.dumps(chunk)}\r\n\r\n".encode())
                self.wfile.flush()
                self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fake-gemini-api", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeGeminiApi":
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ answers

    def _record(self, path: str, body: dict[str, Any]) -> GeminiRequest:
        request = GeminiRequest(path, body, time.monotonic())
        with self._cond:
            self.requests.append(request)
            self._cond.notify_all()
        return request

    def _other(self, method: str, path: str, body: str) -> None:
        with self._cond:
            self.other_requests.append(OtherRequest(method, path, body, time.monotonic()))
            self._cond.notify_all()

    def _replied(self, request: GeminiRequest, reply: Reply) -> None:
        with self._cond:
            request.reply = reply
            request.replied_at = time.monotonic()
            self._cond.notify_all()

    def _reply(self, request: GeminiRequest) -> Reply:
        if request.is_main_loop():
            for rule in self.rules:
                if rule.when(request):
                    return rule.reply(request)
            return self.fallback_text
        schema = request.response_schema()
        return json.dumps(_from_schema(schema)) if schema is not None else self.fallback_text

    def _response(self, request: GeminiRequest, reply: Reply) -> dict[str, Any]:
        if isinstance(reply, FunctionCall):
            part: dict[str, Any] = {"functionCall": {"name": request.resolve(reply.name), "args": reply.args}}
        else:
            part = {"text": reply}
        return {
            "candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15},
            "modelVersion": request.model,
        }

    # ------------------------------------------------------------------ waiting

    def wait_for(self, predicate: Callable[[GeminiRequest], bool], timeout: float) -> GeminiRequest | None:
        """The first request (old or new) matching ``predicate``, or None after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = next((request for request in self.requests if predicate(request)), None)
                remaining = deadline - time.monotonic()
                if found is not None or remaining <= 0:
                    return found
                self._cond.wait(remaining)

    def main_requests(self) -> list[GeminiRequest]:
        """The conversation turns so far (requests that declare tools), oldest first."""
        with self._cond:
            return [request for request in self.requests if request.is_main_loop()]

    def saw(self, text: str) -> bool:
        """True if any request so far showed the model ``text``."""
        with self._cond:
            return any(text in request.text() for request in self.requests)


def _from_schema(schema: dict[str, Any], name: str = "") -> Any:
    """A value that follows ``schema`` (OpenAPI or JSON Schema types, either case)."""
    if name in SCHEMA_ANSWERS:
        return SCHEMA_ANSWERS[name]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = str(schema.get("type", "object")).lower()
    if kind == "object":
        properties = schema.get("properties") or {}
        return {key: _from_schema(value, key) for key, value in properties.items() if isinstance(value, dict)}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    return ""


def _parts(content: dict[str, Any]) -> Iterator[dict[str, Any]]:
    parts = content.get("parts")
    yield from (part for part in parts if isinstance(part, dict)) if isinstance(parts, list) else ()


def _texts(contents: list[dict[str, Any]]) -> Iterator[str]:
    for content in contents:
        for part in _parts(content):
            if "text" in part and not part.get("thought"):
                yield str(part["text"])
            elif isinstance(part.get("functionResponse"), dict):
                yield json.dumps(part["functionResponse"].get("response"))
