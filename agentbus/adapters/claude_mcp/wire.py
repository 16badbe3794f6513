"""The adapter's JSON-RPC wire: framing lines, classifying what the client sent, encoding what goes back.

Every byte that crosses stdio passes through here, in both directions; nothing else in the adapter
parses or serialises a JSON-RPC message. Standard library only, so the opening can use it before
the event loop exists.
"""

import json
from dataclasses import dataclass
from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

#: The longest line accepted from the client; a longer one is dropped and refused (id null).
MAX_LINE_BYTES = 16 * 1024 * 1024

RequestId = str | int
Params = dict[str, Any] | None


@dataclass(frozen=True)
class Request:
    """A request: it gets exactly one answer with its id."""

    id: RequestId
    method: str
    params: Params


@dataclass(frozen=True)
class Notification:
    """A notification: never answered."""

    method: str
    params: Params


@dataclass(frozen=True)
class Refusal:
    """A line that must be answered with an error: ``id`` is None when no id could be read."""

    id: RequestId | None
    code: int
    message: str


@dataclass(frozen=True)
class Ignored:
    """A line that gets no answer: blank, a response (we send no requests), a malformed notification."""

    why: str


Incoming = Request | Notification | Refusal | Ignored


class RpcError(Exception):
    """Raised by a handler: the request is answered with this JSON-RPC error."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _valid_id(value: object) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


def classify(line: bytes) -> Incoming:
    """What one line from the client is (JSON-RPC 2.0 sections 4-5, MCP: ids are strings or integers)."""
    if not line.strip():
        return Ignored("blank line")
    try:
        message = json.loads(line)
    except ValueError:  # also invalid UTF-8
        return Refusal(None, PARSE_ERROR, "Parse error: the line is not valid JSON in UTF-8")
    except RecursionError:
        return Refusal(None, PARSE_ERROR, "Parse error: the JSON is nested too deeply")
    if not isinstance(message, dict):
        return Refusal(None, INVALID_REQUEST, "Invalid Request: a message is a JSON object")
    has_id = "id" in message
    request_id = message.get("id") if has_id and _valid_id(message.get("id")) else None
    method = message.get("method")
    if method is None:
        if has_id and ("result" in message or "error" in message):
            return Ignored("a response to a request the adapter never sent")
        return Refusal(request_id, INVALID_REQUEST, "Invalid Request: no method")
    if message.get("jsonrpc") != "2.0" or not isinstance(method, str):
        if not has_id:
            return Ignored("a malformed notification")
        return Refusal(request_id, INVALID_REQUEST, 'Invalid Request: needs "jsonrpc": "2.0" and a string method')
    if has_id and request_id is None:
        return Refusal(None, INVALID_REQUEST, "Invalid Request: the id must be a string or an integer")
    params = message.get("params")
    if params is not None and not isinstance(params, dict):
        if request_id is None:
            return Ignored("a notification whose params are not an object")
        return Refusal(request_id, INVALID_PARAMS, "Invalid params: params must be an object")
    if request_id is None:
        return Notification(method, params)
    return Request(request_id, method, params)


def encode(message: dict[str, Any]) -> bytes:
    """One message as one line of UTF-8 JSON."""
    try:
        return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
    except UnicodeEncodeError:  # a lone surrogate echoed from the client's input: escape it instead
        return json.dumps(message, separators=(",", ":")).encode("ascii") + b"\n"


def result_line(request_id: RequestId, result: dict[str, Any]) -> bytes:
    return encode({"jsonrpc": "2.0", "id": request_id, "result": result})


def error_line(request_id: RequestId | None, code: int, message: str, data: object = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return encode({"jsonrpc": "2.0", "id": request_id, "error": error})


def refusal_line(refusal: Refusal) -> bytes:
    return error_line(refusal.id, refusal.code, refusal.message)


def notification_line(method: str, params: dict[str, Any]) -> bytes:
    return encode({"jsonrpc": "2.0", "method": method, "params": params})


TOO_LONG = Refusal(None, INVALID_REQUEST, f"message longer than {MAX_LINE_BYTES} bytes; dropped")


class Framer:
    """Cuts the client's byte stream into lines; a line over MAX_LINE_BYTES becomes ``TOO_LONG`` once."""

    def __init__(self, initial: bytes = b"") -> None:
        self._buffer = bytearray(initial)
        self._scanned = 0  # bytes of the buffer known to hold no newline
        self._skipping = False  # inside an over-long line, dropping it up to its newline

    def feed(self, chunk: bytes) -> None:
        self._buffer += chunk

    def lines(self) -> list[bytes | Refusal]:
        """Every complete line fed so far (newline included), in order; over-long ones as TOO_LONG."""
        out: list[bytes | Refusal] = []
        while True:
            newline = self._buffer.find(b"\n", self._scanned)
            if newline < 0:
                break
            line = bytes(self._buffer[: newline + 1])
            del self._buffer[: newline + 1]
            self._scanned = 0
            if self._skipping:
                self._skipping = False
            else:
                out.append(line)
        self._scanned = len(self._buffer)
        if self._skipping:
            self._buffer.clear()
            self._scanned = 0
        elif len(self._buffer) > MAX_LINE_BYTES:
            out.append(TOO_LONG)
            self._buffer.clear()
            self._scanned = 0
            self._skipping = True
        return out

    def rest(self) -> bytes:
        """What is left after the last complete line (a last line without its newline, at EOF)."""
        return b"" if self._skipping else bytes(self._buffer)
