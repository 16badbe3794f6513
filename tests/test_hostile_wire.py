"""Hostile bytes straight into the adapter's stdin: it answers what it can, ignores the rest, keeps delivering.

One pair of sessions per module: each case writes one hostile line into alice's stdin, checks the
answer (SPEC MCP-6: a JSON-RPC error where the protocol allows one), then checks that a normal
message still reaches alice and that alice can still send.
"""

import itertools
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentbus.core import Bus, Settings
from fakeclaude import RequestTimeout, Sandbox, Session

_counter = itertools.count()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Session, Session]]:
    sandbox = Sandbox(tmp_path_factory.mktemp("hostile-wire"))
    Bus.open(Settings(home=sandbox.bus_home)).close()
    try:
        alice, bob = sandbox.start_sessions("alice", "bob", env={"AGENTBUS_RATE_LIMIT_PER_MINUTE": "0"})
        yield alice, bob
    finally:
        sandbox.close_all()


def response_to(session: Session, request_id: object, timeout: float) -> dict[str, Any] | None:
    """The response with this id (None if none came within ``timeout``)."""
    try:
        record = session.wait_for_message(
            predicate=lambda r: r.kind == "response" and r.id == request_id and type(r.id) is type(request_id),
            timeout=timeout,
        )
    except RequestTimeout:
        return None
    return record.message


def still_working(alice: Session, bob: Session) -> None:
    """After the hostile line: alice still receives pushes, and her own sends still work."""
    n = next(_counter)
    assert alice.alive, alice.report()
    sent = bob.call_tool("send_message", {"to": "alice", "text": f"still there? {n}"})
    assert not sent.is_error, sent.text
    assert alice.wait_for_channel(lambda e: e.content == f"still there? {n}", timeout=5).meta["from"] == "bob"
    answer = alice.call_tool("send_message", {"to": "bob", "text": f"yes {n}"})
    assert not answer.is_error, answer.text
    assert bob.wait_for_channel(lambda e: e.content == f"yes {n}", timeout=5).meta["from"] == "alice"
    assert alice.junk == [], alice.recorder.dump(last=10)


def call_line(request_id: object, name: str, arguments: object) -> bytes:
    message = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }
    return json.dumps(message).encode()


# Lines that are not requests, or whose id cannot be recovered: nothing to answer, keep going.
IGNORED: dict[str, bytes] = {
    "empty-array": b"[]",
    "bare-jsonrpc": b'{"jsonrpc":"2.0"}',
    "null": b"null",
    "number": b"12345",
    "string": b'"tools/call"',
    "unknown-notification": b'{"jsonrpc":"2.0","method":"notifications/made_up","params":{"x":1}}',
    "cancel-unknown-request": b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":424242}}',
    "stray-response": b'{"jsonrpc":"2.0","id":98765,"result":{"content":[]}}',
    "binary": bytes(range(256)).replace(b"\n", b""),
    "control-characters": b"\x1b[2J\x1b[31m\r\x07\x08\x0c",
    "whitespace": b" \t \r ",
    "nul-bytes": b"\x00" * 64,
}

# Requests with an id the adapter can read: each gets a response with that id.
ANSWERED: dict[str, tuple[bytes, object, str]] = {
    # name: (line, id, what the response must be: "error" or "tool-error" or "result")
    "unknown-method": (b'{"jsonrpc":"2.0","id":"u1","method":"made/up","params":{}}', "u1", "error"),
    "unknown-tool": (call_line("u2", "rm_rf", {}), "u2", "tool-error"),
    "arguments-not-an-object": (call_line("u3", "send_message", [1, 2]), "u3", "error"),
    "tools-call-without-name": (b'{"jsonrpc":"2.0","id":"u4","method":"tools/call","params":{}}', "u4", "error"),
    "string-id-ping": (b'{"jsonrpc":"2.0","id":"ping-1","method":"ping"}', "ping-1", "result"),
    "huge-integer-id": (b'{"jsonrpc":"2.0","id":123456789012,"method":"ping"}', 123456789012, "result"),
    "ten-megabyte-text": (call_line("u5", "send_message", {"to": "bob", "text": "x" * 10_000_000}), "u5", "tool-error"),
    "nul-escape-in-text": (call_line("u6", "send_message", {"to": "bob", "text": "a\u0000b"}), "u6", "tool-error"),
    "text-of-a-closing-tag-only": (
        call_line("u7", "send_message", {"to": "bob", "text": "</channel>"}),
        "u7",
        "result",
    ),
}

# Requests whose line fails validation although its id is readable: still answered with that id.
ANSWERED_DESPITE_ERRORS: dict[str, tuple[bytes, object, str]] = {
    "params-not-an-object": (b'{"jsonrpc":"2.0","id":"v1","method":"tools/call","params":5}', "v1", "error"),
    "lone-surrogate-in-text": (
        b'{"jsonrpc":"2.0","id":"v2","method":"tools/call","params":{"name":"send_message",'
        b'"arguments":{"to":"bob","text":"a\\ud800b"}}}',
        "v2",
        "tool-error",
    ),
    "jsonrpc-1.0": (b'{"jsonrpc":"1.0","id":"v3","method":"ping"}', "v3", "error"),
    "nested-900-deep-params": (
        b'{"jsonrpc":"2.0","id":"v5","method":"ping","params":{"a":' + b"[" * 900 + b"]" * 900 + b"}}",
        "v5",
        "result",
    ),
}

# Lines that are not JSON at all: JSON-RPC's answer is a parse error with id null.
NOT_JSON: dict[str, bytes] = {
    "invalid-utf8-in-a-string": b'{"jsonrpc":"2.0","id":"v4","method":"ping","params":{"x":"\xff\xfe"}}',
    "truncated-request": b'{"jsonrpc": "2.0", "id": "v6", "method": "pi',
}


def check_answer(response: dict[str, Any] | None, expected: str) -> None:
    assert response is not None, "no response"
    if expected == "error":
        assert "error" in response, response
        assert isinstance(response["error"].get("code"), int), response
        assert -32700 <= response["error"]["code"] <= -32600, response
    elif expected == "tool-error":
        result = response.get("result")
        assert result is not None, response
        assert result.get("isError") is True, response
        text = " ".join(c.get("text", "") for c in result.get("content", []))
        assert text.strip(), response
        assert "Traceback" not in text, response
    else:
        assert "result" in response, response
        assert not response["result"].get("isError"), response


@pytest.mark.parametrize("line", IGNORED.values(), ids=IGNORED.keys())
def test_junk_lines_are_ignored_and_delivery_goes_on(pair: tuple[Session, Session], line: bytes) -> None:
    alice, bob = pair
    before = len(alice.recorder.received())
    alice.send_raw(line)
    still_working(alice, bob)
    answers = [r for r in alice.recorder.received()[before:] if r.kind == "response" and r.id not in (None,)]
    # Whatever the adapter answered, it answered only the requests fakeclaude made (and errors with id null).
    stray = [r for r in answers if not isinstance(r.id, int) or r.id > 10**6]
    assert stray == [], [r.raw[:200] for r in stray]


@pytest.mark.parametrize("case", ANSWERED.values(), ids=ANSWERED.keys())
def test_requests_get_an_answer_and_delivery_goes_on(
    pair: tuple[Session, Session], case: tuple[bytes, object, str]
) -> None:
    alice, bob = pair
    line, request_id, expected = case
    alice.send_raw(line)
    check_answer(response_to(alice, request_id, timeout=10), expected)
    still_working(alice, bob)


@pytest.mark.parametrize("case", ANSWERED_DESPITE_ERRORS.values(), ids=ANSWERED_DESPITE_ERRORS.keys())
def test_invalid_requests_with_a_readable_id_are_answered(
    pair: tuple[Session, Session], case: tuple[bytes, object, str]
) -> None:
    alice, bob = pair
    line, request_id, expected = case
    alice.send_raw(line)
    still_working(alice, bob)  # the answer, if any, comes well within this round trip
    check_answer(response_to(alice, request_id, timeout=1.0), expected)


@pytest.mark.parametrize("line", NOT_JSON.values(), ids=NOT_JSON.keys())
def test_lines_that_are_not_json_get_a_parse_error(pair: tuple[Session, Session], line: bytes) -> None:
    alice, bob = pair
    sent = alice.send_raw(line)
    still_working(alice, bob)
    errors = [
        r.message["error"]
        for r in alice.recorder.received()
        if r.seq > sent.seq and r.kind == "response" and r.message is not None and "error" in r.message
    ]
    assert any(e.get("code") == -32700 for e in errors), alice.recorder.dump(last=12)


def test_an_over_long_line_is_dropped_and_the_next_line_served(pair: tuple[Session, Session]) -> None:
    alice, bob = pair
    # 20 MB without a newline (over the 16 MiB cap), then a valid request on the same write.
    alice.send_raw(b"x" * 20_000_000 + b"\n" + b'{"jsonrpc":"2.0","id":"after-long","method":"ping"}')
    check_answer(response_to(alice, "after-long", timeout=15), "result")
    still_working(alice, bob)


def test_a_half_line_then_eof_ends_the_adapter_cleanly(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "eof") as sandbox:
        alice = sandbox.start_session("alice")
        alice.send_raw(b'{"jsonrpc":"2.0","id":"half","method":"tools/call","params":{"name":"whoa', newline=False)
        result = alice.close(timeout=5)
        assert result.exited, result.describe() + "\n" + alice.report()
        assert result.exit_code == 0, result.describe() + "\n" + alice.report()
        assert result.seconds_to_exit is not None
        assert result.seconds_to_exit < 2


def test_json_nested_beyond_any_parser_limit_is_refused_and_serving_goes_on(tmp_path: Path) -> None:
    """200,000 nested arrays (deeper than Python's recursion limit), written by a bare client."""
    deep = b'{"jsonrpc":"2.0","id":"deep","method":"ping","params":{"a":' + b"[" * 200_000 + b"]" * 200_000 + b"}}"
    opening = (
        b'{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-11-25",'
        b'"capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}\n'
        b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n'
    )
    env = {**os.environ, "AGENTBUS_HOME": str(tmp_path / "bus"), "HOME": str(tmp_path), "AGENTBUS_NAME": "raw"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentbus.adapters.claude_mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    lines: queue.Queue[bytes] = queue.Queue()
    assert proc.stdout is not None
    assert proc.stdin is not None
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        proc.stdin.write(opening + deep + b"\n" + b'{"jsonrpc":"2.0","id":"after","method":"ping"}\n')
        proc.stdin.flush()
        answers: dict[object, dict[str, Any]] = {}
        deadline = time.monotonic() + 15
        while "after" not in answers and time.monotonic() < deadline:
            try:
                message = json.loads(lines.get(timeout=0.2))
            except queue.Empty:
                if proc.poll() is not None and not reader.is_alive():
                    break  # the adapter is gone and everything it wrote has been read
                continue
            answers[message.get("id")] = message
        assert "after" in answers, f"no answer after the deep line; exit code {proc.poll()}"
        assert answers["after"].get("result") == {}
        if "deep" in answers:  # refusing it with an error (or answering the ping) are both fine
            assert "error" in answers["deep"] or answers["deep"].get("result") == {}
        assert proc.poll() is None
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
        reader.join(timeout=5)
        proc.stdout.close()
        assert proc.stderr is not None
        stderr = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
    assert "Traceback" not in stderr, stderr[-3000:]


def test_fakeclaude_send_raw_takes_deeply_nested_json(pair: tuple[Session, Session]) -> None:
    alice, bob = pair
    alice.send_raw(b"[" * 200_000 + b"]" * 200_000)
    still_working(alice, bob)
