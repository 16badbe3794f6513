"""fakeclaude's fake Codex app-server: its answers over a real WebSocket, and codex sessions built on it."""

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentbus.adapters.claude_mcp.protocol import render_channel as adapter_render_channel
from fakeclaude import FakeAppServer, Sandbox, Session
from fakeclaude.rendering import parse_channel_tag, render_channel
from fakeclaude.session import DROPPED_BY_CODEX
from fakeclaude.waiting import wait_until

FAKES = Path(__file__).with_name("fake_adapters")
StartSession = Callable[..., Session]


class Client:
    """A bare client of the fake: one WebSocket, one request at a time."""

    def __init__(self, fake: FakeAppServer) -> None:
        from websockets.sync.client import unix_connect

        self._stack = contextlib.ExitStack()  # websockets 17 wants its connection used as a context
        self.ws = self._stack.enter_context(unix_connect(str(fake.socket), "ws://localhost/"))
        self.ids = iter(range(1, 1000))

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        request_id = next(self.ids)
        self.ws.send(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}}))
        answer: dict[str, Any] = json.loads(self.ws.recv(timeout=5))
        assert answer["id"] == request_id
        return answer

    def close(self) -> None:
        self._stack.close()


@pytest.fixture
def fake() -> Iterator[FakeAppServer]:
    with FakeAppServer(threads=["thread-a", "thread-b"]) as server:
        yield server


@pytest.fixture
def client(fake: FakeAppServer) -> Iterator[Client]:
    made = Client(fake)
    yield made
    made.close()


def _text(text: str) -> dict[str, Any]:
    return {"threadId": "thread-a", "input": [{"type": "text", "text": text}]}


def test_answers_as_codex_does(fake: FakeAppServer, client: Client) -> None:
    assert len(str(fake.socket)) < 107
    refused = client.call("thread/loaded/list")
    assert refused["error"] == {"code": -32600, "message": "Not initialized"}
    opened = client.call("initialize", {"clientInfo": {"name": "t", "version": "1"}})
    assert set(opened["result"]) == {"userAgent", "codexHome", "platformFamily", "platformOs"}
    assert "jsonrpc" not in opened  # Codex leaves it out of its answers
    client.ws.send(json.dumps({"method": "initialized"}))
    assert client.call("thread/loaded/list")["result"] == {"data": ["thread-a", "thread-b"], "nextCursor": None}
    turn = client.call("turn/start", _text("hello"))["result"]["turn"]
    assert (turn["status"], turn["items"], turn["error"]) == ("inProgress", [], None)
    unknown = client.call("thread/fork", {})
    assert unknown["error"]["code"] == -32600
    assert "unknown variant `thread/fork`" in unknown["error"]["message"]
    assert client.call("turn/start", {"threadId": "nope", "input": [{"type": "text", "text": "x"}]})["error"]
    assert [(i.thread_id, i.text, i.accepted) for i in fake.inputs] == [("thread-a", "hello", True)]


def test_a_running_turn_takes_later_inputs(fake: FakeAppServer, client: Client) -> None:
    client.call("initialize", {"clientInfo": {"name": "t", "version": "1"}})
    first = client.call("turn/start", _text("one"))["result"]["turn"]["id"]
    second = client.call("turn/start", _text("two"))["result"]["turn"]["id"]
    assert first != second, "an idle thread starts a new turn for each input"
    running = fake.begin_turn()
    joined = [client.call("turn/start", _text(t))["result"]["turn"]["id"] for t in ("three", "four")]
    assert joined == [running, running]
    fake.end_turn()
    assert client.call("turn/start", _text("five"))["result"]["turn"]["id"] != running


def test_refused_and_held_inputs_are_not_accepted(fake: FakeAppServer, client: Client) -> None:
    client.call("initialize", {"clientInfo": {"name": "t", "version": "1"}})
    fake.refuse("busy", code=-32000)
    assert client.call("turn/start", _text("refused"))["error"] == {"code": -32000, "message": "busy"}
    wait_until(lambda: fake.refusals, 5, "the refusal to be recorded")  # just after its answer is written
    assert not fake.inputs
    assert [r.text for r in fake.refusals] == ["refused"]
    fake.hold()
    client.ws.send(json.dumps({"id": 50, "method": "turn/start", "params": _text("held")}))
    wait_until(lambda: len(fake.turn_starts()) == 2, 5, "the held turn/start to be read")
    with pytest.raises(TimeoutError):
        client.ws.recv(timeout=0.3)
    assert not fake.inputs
    fake.release()
    assert json.loads(client.ws.recv(timeout=5))["id"] == 50
    assert fake.wait_for_input(lambda i: i.text == "held").accepted


def test_vanish_closes_everything_and_come_back_listens_again(fake: FakeAppServer, client: Client) -> None:
    client.call("initialize", {"clientInfo": {"name": "t", "version": "1"}})
    fake.vanish()
    assert not fake.socket.exists()
    assert not fake.listening
    with pytest.raises(Exception):  # noqa: B017, PT011 - the closed connection, whichever exception websockets picks
        client.call("turn/start", _text("into the void"))
    fake.come_back()
    again = Client(fake)
    try:
        again.call("initialize", {"clientInfo": {"name": "t", "version": "1"}})
        assert "result" in again.call("turn/start", _text("back"))
    finally:
        again.close()
    assert [i.text for i in fake.inputs] == ["back"]
    assert fake.connections == 2


@given(
    body=st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), min_size=1),
    sender=st.text(min_size=1, max_size=20),
)
def test_parse_channel_tag_reads_back_what_is_rendered(body: str, sender: str) -> None:
    """The inverse of both renderings (fakeclaude's and the adapter's), for any body without ``<\\/channel``."""
    if "<\\/channel" in body.lower():
        body = body.replace("\\", "")
    meta = {"from": sender, "msg_id": "12", "ts": "2026-12-02T10:00:00.000Z"}
    for rendered in (render_channel(body, meta), adapter_render_channel(body, meta) + "\n(hint)"):
        parsed = parse_channel_tag(rendered)
        assert parsed is not None
        assert parsed.content == body
        assert parsed.attributes == {"source": "agentbus", **meta}


def test_a_codex_session_hears_through_the_app_server(tmp_path: Path) -> None:
    with Sandbox(tmp_path, adapter="codex") as bus:
        alice, bob = bus.start_sessions("alice", "bob", timeout=15)
        assert bob.app_server is not None
        assert bob.env["AGENTBUS_CODEX_SOCKET"] == str(bob.app_server.socket)
        assert bob.claude_argv is not None
        assert bob.claude_argv[:2] == ("codex", "app-server")
        assert bob.transcript is None
        assert bob.channel_handler_delay == 0.0
        result = alice.call_tool("send_message", {"to": "bob", "text": "over </channel> the app-server"})
        assert not result.is_error, result.text
        event = bob.assert_channel("over </channel> the app-server", within=5, from_="alice")
        assert event.via == "codex-app-server"
        assert "source" not in event.meta
        assert event.record.method == "turn/start"
        assert event.rendered in bob.app_server.inputs[0].text
        pull_only = bus.start_session("carol", channels=False, timeout=15)
        assert pull_only.app_server is None
        assert "AGENTBUS_CODEX_SOCKET" not in pull_only.env
    assert not bob.app_server.socket_dir.exists(), "the session's end removes its app-server"


def test_channel_notifications_are_dropped_in_a_codex_session(tmp_path: Path) -> None:
    """A test adapter that writes a channel notification, under a codex-app-server manifest: Codex would
    not show it, so the session drops it (and says why) instead of recording an event."""
    manifest = tmp_path / "module.json"
    good = json.loads((FAKES / "good" / "module.json").read_text())
    script = str(FAKES / "good" / "script.py")
    manifest.write_text(json.dumps({**good, "delivery": "codex-app-server", "command": ["{python}", script]}))
    with Sandbox(tmp_path / "bus", adapter=str(manifest)) as bus:
        bob = bus.start_session("bob", timeout=15)
        assert not bob.call_tool("emit", {"content": "x", "meta": {"from": "a"}}).is_error
        wait_until(lambda: bob.dropped_events, 5, "the notification to be read")
        assert [d.reason for d in bob.dropped_events] == [DROPPED_BY_CODEX]
        assert not bob.channel_events
