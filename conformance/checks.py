"""Small assertions the suite shares: sending, refusals, peer listings, waiting for channel events."""

import os
import re
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from conformance.procs import gone
from fakeclaude import ChannelEvent, JsonRpcError, Session, ToolResult
from fakeclaude.waiting import wait_until

INTERNAL_ERROR = -32603


@dataclass(frozen=True)
class Refusal:
    """How a request was refused: a tool error result (``tool``) or a JSON-RPC error (``jsonrpc``)."""

    kind: str
    text: str
    code: int | None = None


def send(session: Session, to: str, text: str, **extra: Any) -> ToolResult:
    """``send_message(to, text)``; AssertionError with the adapter's words if it was refused."""
    result = session.call_tool("send_message", {"to": to, "text": text, **extra})
    assert not result.is_error, f"send_message to {to!r} was refused: {result.text}"
    return result


def refusal(session: Session, tool: str, arguments: Mapping[str, Any]) -> Refusal | None:
    """Call ``tool``; the refusal (tool error or JSON-RPC error), or None if the call succeeded."""
    try:
        result = session.call_tool(tool, arguments)
    except JsonRpcError as exc:
        return Refusal("jsonrpc", str(exc.message), exc.code if isinstance(exc.code, int) else None)
    return Refusal("tool", result.text) if result.is_error else None


def assert_refused(session: Session, tool: str, arguments: Mapping[str, Any], what: str) -> Refusal:
    """The call must be refused with an error (either form, never an internal error), not accepted."""
    found = refusal(session, tool, arguments)
    assert found is not None, f"{what}: {tool}({dict(arguments)!r}) was accepted, it must be refused"
    assert found.code != INTERNAL_ERROR, f"{what}: refused with a JSON-RPC internal error: {found.text}"
    assert found.text.strip(), f"{what}: refused without saying why"
    return found


def assert_alive(session: Session) -> None:
    """The adapter still answers (ping) after what the test did to it."""
    assert session.alive, f"the adapter exited (code {session.returncode})\n{session.report()}"
    response = session.ping(timeout=5)
    assert "result" in response, f"ping failed after the test's input: {response}"


def mentions(text: str, name: str) -> bool:
    """True if ``name`` appears in ``text`` as a whole peer name (not as part of a longer name)."""
    return re.search(rf"(?<![a-z0-9_-]){re.escape(name)}(?![a-z0-9_-])", text) is not None


def listed_names(result: ToolResult, candidates: list[str]) -> set[str]:
    """Which of ``candidates`` a list_peers result names."""
    return {name for name in candidates if mentions(result.text, name)}


def lists(observer: Session, name: str) -> bool:
    """Whether ``observer``'s ``list_peers`` names ``name``: presence as another session sees it."""
    return mentions(observer.call_tool("list_peers", {}).text, name)


def wait_unlisted(observer: Session, name: str, timeout: float, what: str) -> None:
    """Wait until ``observer``'s ``list_peers`` no longer names ``name`` (AssertionError naming ``what``)."""
    wait_until(
        lambda: not lists(observer, name),
        timeout,
        what,
        interval=0.05,
        describe=lambda: f"{name} still listed: {observer.call_tool('list_peers', {}).text!r}",
    )


def whoami_name(session: Session, candidates: list[str]) -> str | None:
    """The first of ``candidates`` (most specific first) that ``whoami`` names as the session's name."""
    text = session.call_tool("whoami", {}).text
    return next((name for name in candidates if mentions(text, name)), None)


def wait_events(session: Session, count: int, timeout: float, sender: str | None = None) -> list[ChannelEvent]:
    """The next ``count`` channel events (from ``sender`` if given), each within the overall ``timeout``."""
    import time

    deadline = time.monotonic() + timeout
    events = []
    for _ in range(count):
        remaining = max(0.0, deadline - time.monotonic())
        predicate = (lambda e: e.meta.get("from") == sender) if sender is not None else None
        events.append(session.wait_for_channel(predicate, timeout=remaining))
    return events


def bodies_before_sentinel(sender: Session, recipient: Session, to: str, timeout: float = 15.0) -> list[str]:
    """What ``recipient`` (named ``to``) was pushed from ``sender`` before a last message sent now.

    Delivery keeps each sender's order (DELIV-4), so once the sentinel arrives everything the sender
    had sent earlier has arrived too: a check of what reached the other session through stdio only.
    """
    sentinel = "sentinel: end of this check"
    send(sender, to, sentinel)
    name = sender.name
    bodies: list[str] = []
    while True:
        event = recipient.wait_for_channel(lambda e: name is None or e.meta.get("from") == name, timeout=timeout)
        if event.content == sentinel:
            return bodies
        bodies.append(event.content)


def msg_id(event: ChannelEvent) -> int:
    """``meta.msg_id`` as an integer (AssertionError if it is not a decimal string)."""
    raw = event.meta.get("msg_id")
    assert isinstance(raw, str), f"meta.msg_id is {raw!r}, not a decimal string"
    assert raw.isdigit(), f"meta.msg_id is {raw!r}, not a decimal string"
    return int(raw)


def reply_to_argument(session: Session, message_id: int) -> int | str:
    """``reply_to`` as the adapter's send_message schema types it (integer or string)."""
    tools = session.tools if session.tools is not None else session.list_tools()
    schema = next((t.get("inputSchema") or {} for t in tools if t.get("name") == "send_message"), {})
    prop = (schema.get("properties") or {}).get("reply_to") or {}
    return str(message_id) if prop.get("type") == "string" else message_id


def kill_adapter(session: Session) -> None:
    """SIGKILL the adapter process (not the ``claude`` stand-in), wait until it is reaped, end the session.

    Like an adapter crash under a live Claude Code: the parent reaps it at once, so on return the
    adapter's pid no longer exists (not even as a zombie).
    """
    adapter = session.adapter_pid
    assert adapter is not None, "the adapter process is not running"
    os.kill(adapter, signal.SIGKILL)
    wait_until(lambda: gone(adapter), 5, f"the killed adapter {adapter} to be reaped")
    session.kill()


def terminate_adapter(session: Session) -> int:
    """Send SIGTERM to the adapter process (as its client would); its pid."""
    adapter = session.adapter_pid
    assert adapter is not None, "the adapter process is not running"
    os.kill(adapter, signal.SIGTERM)
    return adapter
