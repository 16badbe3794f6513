"""A loopback stand-in for the Anthropic Messages API, so the real Claude Code runs offline.

It streams (SSE) or returns whole Messages API responses. Each request is answered by the first
``Rule`` whose ``when`` matches the conversation; a model turn that is a tool call carries a
``tool_use`` block. The default rules make a session answer ``ping`` with ``pong``: a user turn
holding ``<channel source="agentbus" from="X" msg_id="N" ...>ping</channel>`` gets
``mcp__agentbus__send_message(to=X, text="pong", reply_to=N)``; the tool's result gets a short text
turn. Claude Code's side requests (session titles, quota probes, token counts) get short text.

Every request is kept (``requests``) with its arrival time, so a test can prove that a message
reached the model: the model saw it when its text is in a request's ``messages``.
"""

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL_NAME = "claude-sonnet-4-5"
CHANNEL_TAG = re.compile(r"<channel\s+([^>]*)>(.*?)</channel>", re.DOTALL)
ATTRIBUTE = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="([^"]*)"')


@dataclass
class ModelRequest:
    """One request Claude Code made to the model API."""

    path: str
    body: dict[str, Any]
    at: float
    replied_at: float | None = None
    reply: "Reply | None" = None

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages = self.body.get("messages")
        return messages if isinstance(messages, list) else []

    @property
    def tool_names(self) -> list[str]:
        tools = self.body.get("tools")
        return [str(t.get("name")) for t in tools or [] if isinstance(t, dict)]

    def text(self) -> str:
        """Every text and tool result of the conversation, joined (what the model was shown)."""
        return "\n".join(_texts(self.messages))

    def turn_texts(self) -> list[str]:
        """The texts of every user turn that are not tool results (prompts, channel events)."""
        found: list[str] = []
        for message in self.messages:
            if message.get("role") != "user":
                continue
            content = message.get("content")
            if isinstance(content, str):
                found.append(content)
            elif isinstance(content, list):
                found += [str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text"]
        return found

    def texts_since_last_answer(self) -> list[str]:
        """The texts the model was given after its last answer: tool results, and what Claude Code
        adds beside them (a message a busy session got from its messaging socket comes that way)."""
        messages = self.messages
        last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
        return list(_texts(messages[last + 1 :]))

    def last_user_texts(self) -> list[str]:
        """The texts of the last user turn (a channel event, a typed prompt, a tool result)."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return list(_texts([message]))
        return []

    def tool_results(self) -> list[tuple[str, str]]:
        """(tool name, result text) of each tool result in the last user turn (name from the tool_use it answers)."""
        names = {}
        for message in self.messages:
            content = message.get("content")
            for block in content if message.get("role") == "assistant" and isinstance(content, list) else []:
                if isinstance(block, dict) and block.get("type") == "tool_use":
                    names[block.get("id")] = str(block.get("name"))
        for message in reversed(self.messages):
            if message.get("role") != "user":
                continue
            content = message.get("content")
            blocks = content if isinstance(content, list) else []
            return [
                (names.get(block.get("tool_use_id"), ""), "\n".join(_texts([{"content": block.get("content")}])))
                for block in blocks
                if isinstance(block, dict) and block.get("type") == "tool_result"
            ]
        return []

    def last_user_is_tool_result(self) -> bool:
        for message in reversed(self.messages):
            if message.get("role") != "user":
                continue
            content = message.get("content")
            return isinstance(content, list) and any(
                isinstance(block, dict) and block.get("type") == "tool_result" for block in content
            )
        return False


@dataclass
class ChannelTag:
    """A ``<channel ...>`` tag as the model was shown it."""

    attributes: dict[str, str]
    body: str


def channel_tags(text: str) -> list[ChannelTag]:
    """The channel tags in a text, with their attributes (still entity-escaped) and bodies."""
    return [
        ChannelTag(dict(ATTRIBUTE.findall(match.group(1))), match.group(2).strip())
        for match in CHANNEL_TAG.finditer(text)
    ]


@dataclass
class ToolUse:
    """The model's answer: call this tool with this input."""

    name: str
    input: dict[str, Any]


Reply = str | ToolUse


@dataclass
class Rule:
    """``when(request)`` true -> ``reply(request)``: a text, or a tool call."""

    when: Callable[[ModelRequest], bool]
    reply: Callable[[ModelRequest], Reply]
    name: str = ""


def _is_main_loop(request: ModelRequest) -> bool:
    """A request of the session's own conversation (it offers the MCP tools), not a side request."""
    return any(name.startswith("mcp__") for name in request.tool_names) or bool(request.body.get("tools"))


def answer_pings(server_name: str = "agentbus") -> Rule:
    """A channel event whose body is ``ping`` -> send_message(to=from, text="pong", reply_to=msg_id)."""

    def pings(request: ModelRequest) -> list[ChannelTag]:
        if not _is_main_loop(request) or request.last_user_is_tool_result():
            return []
        found = []
        for text in request.last_user_texts():
            found += [tag for tag in channel_tags(text) if tag.body == "ping"]
        return found

    def reply(request: ModelRequest) -> Reply:
        tag = pings(request)[-1]
        arguments = {"to": tag.attributes.get("from", ""), "text": "pong"}
        if "msg_id" in tag.attributes:
            arguments["reply_to"] = tag.attributes["msg_id"]
        return ToolUse(f"mcp__{server_name}__send_message", arguments)

    return Rule(lambda request: bool(pings(request)), reply, "answer pings")


def call_on_prompt(prompt: str, tool: str, arguments: dict[str, Any] | None = None) -> Rule:
    """A typed user prompt equal to ``prompt`` -> call ``tool`` (full name, e.g. mcp__agentbus__read_messages)."""

    def when(request: ModelRequest) -> bool:
        return (
            _is_main_loop(request)
            and not request.last_user_is_tool_result()
            and any(text.strip() == prompt for text in request.last_user_texts())
        )

    return Rule(when, lambda _request: ToolUse(tool, dict(arguments or {})), f"prompt {prompt!r} -> {tool}")


def then_call(after_tool: str, tool: str, arguments: dict[str, Any] | None = None) -> Rule:
    """The result of ``after_tool`` (full name) -> call ``tool``: a second call in the same turn."""

    def when(request: ModelRequest) -> bool:
        return any(name == after_tool for name, _text in request.tool_results())

    return Rule(when, lambda _request: ToolUse(tool, dict(arguments or {})), f"after {after_tool} -> {tool}")


def after_tool_result(text: str = "Done.") -> Rule:
    return Rule(lambda request: request.last_user_is_tool_result(), lambda _request: text, "after a tool result")


def default_rules(server_name: str = "agentbus") -> list[Rule]:
    return [answer_pings(server_name), after_tool_result()]


@dataclass
class FakeModel:
    """The loopback Messages API; ``with FakeModel() as model: model.base_url`` for ANTHROPIC_BASE_URL."""

    rules: list[Rule] = field(default_factory=default_rules)
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[ModelRequest] = field(default_factory=list)
    fallback_text: str = "OK."

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._ids = iter(range(1, 1 << 62))
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the model first"
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> "FakeModel":
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                return None

            def do_HEAD(self) -> None:
                self._empty(200)

            def do_GET(self) -> None:
                self._json(200, {})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                if not isinstance(body, dict):
                    body = {}
                path = self.path.split("?", 1)[0]
                if not path.endswith("/v1/messages"):
                    # count_tokens, telemetry, event logging...: a harmless answer.
                    self._json(200, {"input_tokens": 1} if path.endswith("count_tokens") else {})
                    return
                request = model._record(path, body)
                reply = model._reply(request)
                try:
                    if body.get("stream"):
                        self._stream(model._events(reply, body))
                    else:
                        self._json(200, model._message(reply, body))
                except OSError:  # the client hung up (a quitting session): nothing to answer
                    self.close_connection = True
                    return
                model._replied(request, reply)

            def _empty(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _json(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, events: Iterator[tuple[str, dict[str, Any]]]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                for name, data in events:
                    self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()
                self.close_connection = True

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-model", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeModel":
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ answers

    def _record(self, path: str, body: dict[str, Any]) -> ModelRequest:
        request = ModelRequest(path, body, time.monotonic())
        with self._cond:
            self.requests.append(request)
            self._cond.notify_all()
        return request

    def _replied(self, request: ModelRequest, reply: Reply) -> None:
        with self._cond:
            request.reply = reply
            request.replied_at = time.monotonic()
            self._cond.notify_all()

    def _reply(self, request: ModelRequest) -> Reply:
        for rule in self.rules:
            if rule.when(request):
                return rule.reply(request)
        return self.fallback_text

    def _blocks(self, reply: Reply) -> list[dict[str, Any]]:
        if isinstance(reply, ToolUse):
            tool_use_id = f"toolu_fake{next(self._ids):08d}"
            return [{"type": "tool_use", "id": tool_use_id, "name": reply.name, "input": reply.input}]
        return [{"type": "text", "text": reply}]

    def _message(self, reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f"msg_fake{next(self._ids):08d}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model") or MODEL_NAME,
            "content": self._blocks(reply),
            "stop_reason": "tool_use" if isinstance(reply, ToolUse) else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 5},
        }

    def _events(self, reply: Reply, body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        message = self._message(reply, body)
        blocks = message.pop("content")
        stop_reason = message.pop("stop_reason")
        yield "message_start", {"type": "message_start", "message": {**message, "content": [], "stop_reason": None}}
        for index, block in enumerate(blocks):
            if block["type"] == "tool_use":
                start = {**block, "input": {}}
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            else:
                start = {"type": "text", "text": ""}
                delta = {"type": "text_delta", "text": block["text"]}
            yield "content_block_start", {"type": "content_block_start", "index": index, "content_block": start}
            yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
            yield "content_block_stop", {"type": "content_block_stop", "index": index}
        yield (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": 5},
            },
        )
        yield "message_stop", {"type": "message_stop"}

    # ------------------------------------------------------------------ waiting

    def wait_for(self, predicate: Callable[[ModelRequest], bool], timeout: float) -> ModelRequest | None:
        """The first request (old or new) matching ``predicate``, or None after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for request in self.requests:
                    if predicate(request):
                        return request
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def saw(self, text: str) -> bool:
        """True if any request so far showed the model ``text``."""
        with self._cond:
            return any(text in request.text() for request in self.requests)


def _texts(messages: list[dict[str, Any]]) -> Iterator[str]:
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            yield content
            continue
        for block in content if isinstance(content, list) else []:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text":
                yield str(block.get("text", ""))
            elif block.get("type") == "tool_result":
                inner = block.get("content")
                if isinstance(inner, str):
                    yield inner
                else:
                    yield from _texts([{"content": inner}])
