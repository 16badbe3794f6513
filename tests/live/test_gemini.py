"""The gemini adapter in the real Gemini CLI (pinned, offline against FakeGeminiApi): a claude-mcp peer's ping
reaches a Gemini session busy in a tool call, one at the end of its turn, and one idle at its prompt, and
the model's pong comes back.

Gemini is set up as a user does it: ``agentbus enable gemini`` writes the server and its hooks into the
scratch HOME's ``~/.gemini/settings.json``; the test then trusts the server (no confirmation per call)
and lets the shell tool run. The peer ``alice`` is a fakeclaude session of the claude-mcp adapter on
the same bus; a pong reaches her as a push. Figures are printed (``-s``) and kept as user properties.
"""

import html
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentbus.adapters.gemini.hook import runtime_dir
from fakeclaude import Sandbox, Session
from fakeclaude.live.gemini import GeminiHome, LiveGemini
from fakeclaude.live.gemini_api import (
    FakeGeminiApi,
    FunctionCall,
    GeminiRequest,
    GeminiRule,
    Reply,
    after_function_response,
    call_on_prompt,
)
from fakeclaude.live.model import channel_tags
from fakeclaude.waiting import wait_until

STEP = 60.0
#: How long the shell command of a busy turn runs: the ping is sent meanwhile.
BUSY_SECONDS = 3
#: How long the model "thinks" before its last answer of a turn: the ping is sent meanwhile.
THINK_SECONDS = 3.0


def _pings(request: GeminiRequest) -> list[Any]:
    """The ping tags in the newest user content, a tool's result included. Gemini shows a hook's context
    HTML-escaped inside ``<hook_context>`` (``&lt;channel ...&gt;``): unescaped here, as a model reads it."""
    if not request.is_main_loop():
        return []
    found = []
    for text in request.last_user_texts():
        readable = html.unescape(text.replace('\\"', '"').replace("\\n", "\n"))
        found += [tag for tag in channel_tags(readable) if tag.body == "ping"]
    return found


def _pong_for_ping() -> GeminiRule:
    """A ping in the newest user content (a prompt, a hook's context, a tool result) -> send_message(to=its
    sender, "pong", reply_to=its id)."""

    def reply(request: GeminiRequest) -> Reply:
        tag = _pings(request)[-1]
        return FunctionCall(
            "send_message", {"to": tag.attributes["from"], "text": "pong", "reply_to": int(tag.attributes["msg_id"])}
        )

    return GeminiRule(lambda request: bool(_pings(request)), reply, "pong for a ping")


def _pong_for_history(prompt: str) -> GeminiRule:
    """The prompt, with a ping anywhere in the conversation so far (SessionStart puts its context first in
    the history) -> send_message(to=its sender, "pong", reply_to=its id)."""

    def found(request: GeminiRequest) -> list[Any]:
        readable = html.unescape(json.dumps(request.contents, ensure_ascii=False).replace('\\"', '"'))
        return [tag for tag in channel_tags(readable.replace("\\n", "\n")) if tag.body == "ping"]

    def when(request: GeminiRequest) -> bool:
        typed = request.is_main_loop() and not request.is_function_response()
        return typed and prompt in request.last_user_texts() and bool(found(request))

    def reply(request: GeminiRequest) -> Reply:
        tag = found(request)[-1]
        return FunctionCall(
            "send_message", {"to": tag.attributes["from"], "text": "pong", "reply_to": int(tag.attributes["msg_id"])}
        )

    return GeminiRule(when, reply, f"prompt {prompt!r} with a ping in the history -> pong")


def _think(prompt: str) -> GeminiRule:
    """The prompt -> a text answer after THINK_SECONDS (a turn busy without tools)."""

    def reply(_request: GeminiRequest) -> Reply:
        time.sleep(THINK_SECONDS)
        return "thought it over"

    rule = call_on_prompt(prompt, "unused")
    return GeminiRule(rule.when, reply, f"prompt {prompt!r} -> think")


def _agentbus(home: GeminiHome, *args: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home.home), "AGENTBUS_HOME": str(home.bus_home)}
    done = subprocess.run(
        [sys.executable, "-m", "agentbus.cli", *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 0, f"agentbus {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[Sandbox]:
    sandbox = Sandbox(tmp_path / "peers")
    try:
        yield sandbox
    finally:
        sandbox.close_all()


@pytest.fixture
def home(tmp_path: Path, peers: Sandbox) -> GeminiHome:
    """A scratch Gemini user with agentbus enabled as ``agentbus enable gemini`` does it."""
    made = GeminiHome.create(tmp_path / "gemini", peers.bus_home)
    _agentbus(made, "enable", "gemini")
    made.settings = json.loads(made.settings_file.read_text())
    made.settings["mcpServers"]["agentbus"]["trust"] = True
    made.settings.setdefault("tools", {})["allowed"] = ["run_shell_command"]
    return made


@pytest.fixture
def api() -> Iterator[FakeGeminiApi]:
    rules = [
        _pong_for_ping(),
        _pong_for_history("first prompt"),
        call_on_prompt("work", "run_shell_command", {"command": f"sleep {BUSY_SECONDS}"}),
        _think("think"),
        after_function_response(),
    ]
    with FakeGeminiApi(rules=rules) as fake:
        yield fake


@pytest.fixture
def unstarted_gem(gemini: Path, home: GeminiHome, api: FakeGeminiApi) -> Iterator[LiveGemini]:
    session = LiveGemini(gemini, home, api, name="gem")
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def gem(unstarted_gem: LiveGemini) -> LiveGemini:
    return unstarted_gem.start(STEP)


def _ready(peers: Sandbox, alice: Session) -> None:
    """gem is on the bus with the hook door (its MCP server is up)."""

    def gem_listed() -> bool:
        result = alice.call_tool("list_peers")
        rows = result.structured["peers"] if isinstance(result.structured, dict) else []
        return any(row["name"] == "gem" and row.get("door") == "hook" for row in rows)

    wait_until(gem_listed, STEP, "gem on the bus with the hook door")


def _pong(alice: Session, msg_id: int) -> float:
    event = alice.wait_for_channel(lambda e: e.content == "pong" and e.meta.get("reply_to") == str(msg_id), STEP)
    return event.received_at


def _status(alice: Session, msg_id: int) -> dict[str, Any]:
    result = alice.call_tool("message_status", {"msg_id": msg_id})
    assert isinstance(result.structured, dict), result.text
    return result.structured


def _seen(alice: Session, msg_id: int) -> dict[str, Any] | None:
    status = _status(alice, msg_id)
    return status if status["state"] == "seen" else None


def _ping(alice: Session, text: str = "ping") -> tuple[int, float]:
    sent = time.monotonic()
    result = alice.call_tool("send_message", {"to": "gem", "text": text})
    assert not result.is_error, result.text
    assert isinstance(result.structured, dict)
    return int(result.structured["msg_id"]), sent


def test_a_ping_reaches_a_session_busy_in_a_tool_call_and_its_pong_comes_back(
    gem: LiveGemini, api: FakeGeminiApi, peers: Sandbox, record_property: Callable[[str, object], None]
) -> None:
    alice = peers.start_session("alice", adapter="claude-mcp")
    _ready(peers, alice)
    gem.type_prompt("work")
    api.wait_for(lambda r: any(c.name == "run_shell_command" for c in [r.reply] if isinstance(c, FunctionCall)), STEP)
    msg_id, sent = _ping(alice)  # while `sleep` runs
    fyi, _ = _ping(alice, "fyi: no answer needed")
    carried = api.wait_for(lambda r: r.is_function_response() and bool(_pings(r)), STEP)
    assert carried is not None, "no model request carried the ping in a tool result (AfterTool)"
    ponged = _pong(alice, msg_id)
    record_property("gemini busy: ping -> model request (ms)", round((carried.at - sent) * 1000))
    record_property("gemini busy: ping -> pong at alice (ms)", round((ponged - sent) * 1000))
    print(f"busy: request {1000 * (carried.at - sent):.0f} ms, pong {1000 * (ponged - sent):.0f} ms after the ping")
    # The sleep ran BUSY_SECONDS: the ping waited for the end of the tool call, then went at once.
    assert carried.at - sent < BUSY_SECONDS + 5
    # Seen, from Gemini's chat record (the tool result it sent the model), not from an answer.
    assert _status(alice, msg_id)["recipient_receipts"] is True
    status = wait_until(lambda: _seen(alice, fyi), 10, "the fyi stamped seen from Gemini's chat record")
    assert status["received"] is not None, status


def test_a_ping_at_the_end_of_a_turn_starts_another_turn_that_answers_it(
    gem: LiveGemini, api: FakeGeminiApi, peers: Sandbox, record_property: Callable[[str, object], None]
) -> None:
    alice = peers.start_session("alice", adapter="claude-mcp")
    _ready(peers, alice)
    gem.type_prompt("think")
    thinking = api.wait_for(lambda r: r.is_main_loop() and "think" in r.last_user_texts(), STEP)
    assert thinking is not None
    msg_id, sent = _ping(alice)  # while the model "thinks": no tool call left in this turn
    ponged = _pong(alice, msg_id)
    turn = api.wait_for(lambda r: bool(_pings(r)), 1)
    assert turn is not None, "the ping did not come as a new prompt (AfterAgent)"
    assert not turn.is_function_response()
    record_property("gemini end of turn: ping -> pong at alice (ms)", round((ponged - sent) * 1000))
    print(f"end of turn: pong {1000 * (ponged - sent):.0f} ms after the ping ({THINK_SECONDS:g} s of it thinking)")


def test_a_ping_to_an_idle_session_waits_for_the_next_prompt(
    gem: LiveGemini, api: FakeGeminiApi, peers: Sandbox, record_property: Callable[[str, object], None]
) -> None:
    alice = peers.start_session("alice", adapter="claude-mcp")
    _ready(peers, alice)
    before = len(api.requests)
    msg_id, sent = _ping(alice)
    time.sleep(3.0)  # a window in which nothing may happen: an idle Gemini runs no hook
    assert len(api.requests) == before, "an idle Gemini session took a turn by itself"
    assert not [e for e in alice.channel_events if e.content == "pong"]
    typed = time.monotonic()
    gem.type_prompt("hello")
    ponged = _pong(alice, msg_id)
    prompt = next(r for r in api.requests[before:] if r.is_main_loop())
    assert _pings(prompt), "the ping did not come with the prompt (BeforeAgent)"
    record_property("gemini idle: prompt typed -> pong at alice (ms)", round((ponged - typed) * 1000))
    print(f"idle: pong {1000 * (ponged - typed):.0f} ms after the user typed (the ping waited {typed - sent:.1f} s)")


def test_mail_queued_before_launch_reaches_the_model_through_session_start(
    unstarted_gem: LiveGemini, api: FakeGeminiApi, peers: Sandbox, record_property: Callable[[str, object], None]
) -> None:
    alice = peers.start_session("alice", adapter="claude-mcp")
    msg_id, _sent = _ping(alice)  # gem is not running: offline mail
    started = time.monotonic()
    unstarted_gem.start(STEP)

    def handed_over() -> bool:
        status = alice.call_tool("message_status", {"msg_id": msg_id})
        return isinstance(status.structured, dict) and status.structured.get("pushed") is not None

    wait_until(handed_over, STEP, "the queued ping handed to Gemini (SessionStart)")
    handed = time.monotonic()
    # In the history, not yet before the model: received (Gemini's chat record has it).
    received = wait_until(
        lambda: _status(alice, msg_id)["received"] is not None, 10, "the queued ping stamped received"
    )
    assert received
    assert not [r for r in api.requests if r.is_main_loop()], "Gemini took a turn before its user typed"
    unstarted_gem.type_prompt("first prompt")
    ponged = _pong(alice, msg_id)
    record_property("gemini queued: launch -> handed over at SessionStart (ms)", round((handed - started) * 1000))
    print(f"queued: handed over {1000 * (handed - started):.0f} ms after launch; pong with the first prompt")
    assert ponged > handed


def test_the_adapter_leaves_the_bus_when_gemini_quits(gem: LiveGemini, peers: Sandbox) -> None:
    """Gemini stops its servers with SIGTERM (no stdin EOF first): the adapter unregisters and exits, and
    its hook socket is gone."""
    alice = peers.start_session("alice", adapter="claude-mcp")
    _ready(peers, alice)
    sockets = list(runtime_dir(peers.bus_home).glob("gemini-*.sock"))
    assert len(sockets) == 1, sockets
    started = time.monotonic()
    gem.quit("quit")

    def gem_gone() -> bool:
        result = alice.call_tool("list_peers")
        rows = result.structured["peers"] if isinstance(result.structured, dict) else []
        return all(row["name"] != "gem" for row in rows)

    wait_until(gem_gone, 10, "gem to leave the bus after Gemini quit")
    assert not sockets[0].exists(), "the hook socket outlived its adapter"
    print(f"quit: gem left the bus {time.monotonic() - started:.2f} s after /quit")
