"""A loopback stand-in for OpenAI's Responses API, so the real Codex runs offline (docs/codex.md).

Codex POSTs ``/v1/responses`` with ``stream: true``; this answers with the SSE events Codex reads
(``response.created``, ``response.output_item.added``/``.done``, ``response.output_text.delta``,
``response.completed``). The default rule answers a user input holding an agentbus ``<channel ...
from="X" msg_id="N">ping</channel>`` tag with a call of the agentbus MCP tool ``send_message(to=X,
text="pong", reply_to=N)`` (Codex offers MCP tools as a ``namespace`` tool ``mcp__agentbus``); a
tool's output gets a short text. Every request is kept (``requests``) with its arrival time.
"""

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fakeclaude.live.model import channel_tags

NAMESPACE = "mcp__agentbus"


@dataclass
class FunctionCall:
    """The model's answer: call ``name`` (in ``namespace``) with ``arguments``."""

    name: str
    arguments: dict[str, Any]
    namespace: str | None = NAMESPACE


Reply = str | FunctionCall


@dataclass
class ResponsesRequest:
    """One request Codex made; ``at`` is ``time.monotonic()`` on arrival."""

    body: dict[str, Any]
    at: float

    @property
    def items(self) -> list[dict[str, Any]]:
        items = self.body.get("input")
        return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []

    def last_user_texts(self) -> list[str]:
        """The texts of the newest user message (the input a turn started with, or one added to it)."""
        for item in reversed(self.items):
            if item.get("type") == "function_call_output":
                return []
            if item.get("role") == "user":
                content = item.get("content")
                parts = content if isinstance(content, list) else [{"text": content}]
                return [str(part.get("text", "")) for part in parts if isinstance(part, dict)]
        return []

    def is_tool_output(self) -> bool:
        return bool(self.items) and self.items[-1].get("type") == "function_call_output"


@dataclass
class ResponsesRule:
    when: Callable[[ResponsesRequest], bool]
    reply: Callable[[ResponsesRequest], Reply]


def answer_pings() -> ResponsesRule:
    """A ``ping`` channel tag in the newest user input -> ``send_message(to=from, text="pong", reply_to=msg_id)``."""

    def pings(request: ResponsesRequest) -> list[Any]:
        return [tag for text in request.last_user_texts() for tag in channel_tags(text) if tag.body == "ping"]

    def reply(request: ResponsesRequest) -> Reply:
        tag = pings(request)[-1]
        arguments: dict[str, Any] = {"to": tag.attributes.get("from", ""), "text": "pong"}
        if tag.attributes.get("msg_id", "").isdigit():
            arguments["reply_to"] = int(tag.attributes["msg_id"])
        return FunctionCall("send_message", arguments)

    return ResponsesRule(lambda request: bool(pings(request)), reply)


def default_rules() -> list[ResponsesRule]:
    return [answer_pings(), ResponsesRule(ResponsesRequest.is_tool_output, lambda _request: "Done.")]


@dataclass
class FakeResponses:
    """``with FakeResponses() as model: model.base_url`` for a Codex ``[model_providers.*]`` entry."""

    rules: list[ResponsesRule] = field(default_factory=default_rules)
    requests: list[ResponsesRequest] = field(default_factory=list)
    fallback_text: str = "OK."

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._ids = iter(range(1, 1 << 62))
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the model first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> "FakeResponses":
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                return None

            def do_GET(self) -> None:
                data = b'{"data": []}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                request = model._record(body if isinstance(body, dict) else {})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for name, data in model._events(model._reply(request)):
                        self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
                    self.wfile.flush()
                except OSError:
                    pass
                self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fake-responses", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeResponses":
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def wait_for(self, predicate: Callable[[ResponsesRequest], bool], timeout: float) -> ResponsesRequest | None:
        """The first request (old or new) matching ``predicate``, or None after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = next((request for request in self.requests if predicate(request)), None)
                remaining = deadline - time.monotonic()
                if found is not None or remaining <= 0:
                    return found
                self._cond.wait(remaining)

    def _record(self, body: dict[str, Any]) -> ResponsesRequest:
        request = ResponsesRequest(body, time.monotonic())
        with self._cond:
            self.requests.append(request)
            self._cond.notify_all()
        return request

    def _reply(self, request: ResponsesRequest) -> Reply:
        for rule in self.rules:
            if rule.when(request):
                return rule.reply(request)
        return self.fallback_text

    def _events(self, reply: Reply) -> Iterator[tuple[str, dict[str, Any]]]:
        response_id = f"resp_{next(self._ids)}"
        yield "response.created", {"type": "response.created", "response": {"id": response_id}}
        if isinstance(reply, FunctionCall):
            item: dict[str, Any] = {
                "type": "function_call",
                "id": f"fc_{next(self._ids)}",
                "call_id": f"call_{next(self._ids)}",
                "name": reply.name,
                "arguments": json.dumps(reply.arguments),
                "status": "completed",
            }
            if reply.namespace:
                item["namespace"] = reply.namespace
            yield "response.output_item.added", {"type": "response.output_item.added", "output_index": 0, "item": item}
        else:
            message_id = f"msg_{next(self._ids)}"
            started = {"type": "message", "id": message_id, "role": "assistant", "content": [], "status": "in_progress"}
            yield (
                "response.output_item.added",
                {"type": "response.output_item.added", "output_index": 0, "item": started},
            )
            delta = {"item_id": message_id, "output_index": 0, "content_index": 0, "delta": reply}
            yield "response.output_text.delta", {"type": "response.output_text.delta", **delta}
            text = {"type": "output_text", "text": reply, "annotations": []}
            item = {**started, "status": "completed", "content": [text]}
        yield "response.output_item.done", {"type": "response.output_item.done", "output_index": 0, "item": item}
        usage = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
        yield "response.completed", {"type": "response.completed", "response": {"id": response_id, "usage": usage}}
