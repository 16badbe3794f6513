"""SPEC section 3: limits (body size, invalid bodies, wrong argument types, the rate limit)."""

import json
from typing import Any

from conformance.checks import assert_alive, assert_refused, bodies_before_sentinel, send, wait_events
from conformance.harness import Harness
from conformance.marks import rule
from fakeclaude import RequestTimeout

DEFAULT_MAX = 65536


@rule("LIMIT-1")
def test_oversized_body_is_refused_never_truncated(harness: Harness) -> None:
    """LIMIT-1: A body larger than the maximum (default 65,536 bytes of UTF-8, `AGENTBUS_MAX_BODY`) is
    refused with an error naming the size and the limit. It is never truncated."""
    alice, bob = harness.start_many(["alice", "bob"])
    send(alice, "bob", "a" * DEFAULT_MAX)
    for body in ("b" * (DEFAULT_MAX + 1), "\u20ac" * 21846):
        size = len(body.encode())
        found = assert_refused(alice, "send_message", {"to": "bob", "text": body}, f"{size}-byte body")
        assert str(size) in found.text.replace(",", ""), f"error does not name the size {size}: {found.text!r}"
        assert str(DEFAULT_MAX) in found.text.replace(",", ""), f"error does not name the limit: {found.text!r}"
    received = bodies_before_sentinel(alice, bob, "bob")
    assert received == ["a" * DEFAULT_MAX], f"bob was pushed bodies of {[len(b) for b in received]} characters"
    if harness.bus_readable:
        bodies = [row["body"] for row in harness.db.to("bob")][:1]
        assert bodies == ["a" * DEFAULT_MAX], f"bodies on the bus: {[len(b) for b in bodies]} characters"


@rule("LIMIT-1")
def test_max_body_setting_is_honoured(harness: Harness) -> None:
    """LIMIT-1: A body larger than the maximum (default 65,536 bytes of UTF-8, `AGENTBUS_MAX_BODY`) is
    refused with an error naming the size and the limit."""
    alice = harness.start("alice", env={"AGENTBUS_MAX_BODY": "100"})
    bob = harness.start("bob")
    send(alice, "bob", "c" * 100)
    found = assert_refused(alice, "send_message", {"to": "bob", "text": "c" * 101}, "101-byte body, limit 100")
    assert "101" in found.text, found.text
    assert "100" in found.text, found.text
    assert [len(b) for b in bodies_before_sentinel(alice, bob, "bob")] == [100]


@rule("LIMIT-2")
def test_empty_nul_and_surrogate_bodies_are_refused(harness: Harness) -> None:
    """LIMIT-2: An empty body, a body containing NUL, and a body that is not valid Unicode (lone
    surrogates) are refused with an error."""
    alice, bob = harness.start_many(["alice", "bob"])
    assert_refused(alice, "send_message", {"to": "bob", "text": ""}, "empty body")
    assert_refused(alice, "send_message", {"to": "bob", "text": "nul\u0000inside"}, "body with NUL")
    assert_refused(alice, "broadcast", {"text": ""}, "empty broadcast")
    line = '{"jsonrpc":"2.0","id":"sur","method":"tools/call","params":{"name":"send_message",'
    line += '"arguments":{"to":"bob","text":"lone \\ud800 surrogate"}}}'
    alice.send_raw(line)
    try:
        answer = alice.wait_for_message(predicate=lambda r: r.id == "sur", timeout=5).message or {}
    except RequestTimeout:
        raise AssertionError(
            "a send_message whose text has a lone surrogate (JSON escape \\ud800) got no answer at all "
            "within 5 s: it must be refused with an error"
        ) from None
    refused = "error" in answer or (answer.get("result") or {}).get("isError") is True
    assert refused, f"a body with a lone surrogate was accepted: {json.dumps(answer)[:300]}"
    assert (answer.get("error") or {}).get("code") != -32603, f"internal error: {answer}"
    assert_alive(alice)
    received = bodies_before_sentinel(alice, bob, "bob")
    assert not received, f"refused bodies reached bob: {received!r}"


@rule("LIMIT-3")
def test_wrong_argument_types_are_refused_without_a_crash(harness: Harness) -> None:
    """LIMIT-3: Arguments of the wrong type (a number for `to`, `null` for `text`, a missing argument) are
    refused with an error, never a crash."""
    alice = harness.start("alice")
    cases: list[tuple[str, dict[str, Any]]] = [
        ("send_message", {"to": 123, "text": "x"}),
        ("send_message", {"to": "bob", "text": None}),
        ("send_message", {"to": "bob", "text": ["x"]}),
        ("send_message", {"to": "bob"}),
        ("send_message", {"text": "x"}),
        ("broadcast", {"text": 5}),
        ("set_name", {"name": None}),
        ("set_name", {}),
    ]
    for tool, args in cases:
        assert_refused(alice, tool, args, f"{tool}({args})")
    assert_alive(alice)
    send(alice, "bob", "still fine")


@rule("LIMIT-4")
def test_sender_rate_limit_suggests_a_reply_loop(harness: Harness) -> None:
    """LIMIT-4: Each sender is rate limited (default 600 messages per rolling minute,
    `AGENTBUS_RATE_LIMIT_PER_MINUTE`, `0` disables) with an error that suggests a reply loop, so two
    agents ping-ponging cannot flood the bus."""
    alice = harness.start("alice", env={"AGENTBUS_RATE_LIMIT_PER_MINUTE": "5"})
    bob = harness.start("bob")
    for i in range(5):
        send(alice, "bob", f"ping {i}")
    found = assert_refused(alice, "send_message", {"to": "bob", "text": "ping 5"}, "sixth message in a minute")
    assert "loop" in found.text.lower(), f"rate-limit error does not suggest a reply loop: {found.text!r}"
    received = [e.content for e in wait_events(bob, 5, timeout=15, sender="alice")]
    assert received == [f"ping {i}" for i in range(5)], received
    if harness.bus_readable:
        assert len(harness.db.to("bob")) == 5
