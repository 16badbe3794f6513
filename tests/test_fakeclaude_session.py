"""fakeclaude against tiny raw JSON-lines adapters: openings, recording, events, and misbehaviour reports."""

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fakeclaude import (
    DISCOVER_PROBE_ID,
    AdapterExited,
    ChannelEvent,
    ChannelTimeout,
    HandshakeError,
    JsonRpcError,
    Sandbox,
    Session,
    profiles,
)
from fakeclaude.claude_shim import __file__ as SHIM
from fakeclaude.session import DROPPED_NO_CAPABILITY, DROPPED_NO_FLAG

FAKES = Path(__file__).with_name("fake_adapters")
StartSession = Callable[..., Session]


def fake(name: str) -> str:
    """The module.json of one of the test adapters in tests/fake_adapters/."""
    return str(FAKES / name / "module.json")


def emit(session: Session, content: str, **meta: str) -> None:
    """Have the adapter push one channel event (it writes the event before the tool's response).

    Waits first until the simulated client listens: earlier events are dropped, as Claude Code does.
    """
    session.wait_channel_ready()
    result = session.call_tool("emit", {"content": content, "meta": meta})
    assert not result.is_error, result


# ------------------------------------------------------------------ openings


def test_plain_opening_is_initialize_then_initialized_and_tools_list(fakeclaude_session: StartSession) -> None:
    session = fakeclaude_session("alice", fake("good"), client="claude-code@2.1.197")
    assert session.opening_used == "initialize"
    sent = session.recorder.sent()
    assert [r.method for r in sent[:3]] == ["initialize", "notifications/initialized", "tools/list"]
    params = sent[0].message["params"]  # type: ignore[index]
    assert params == profiles.load("claude-code@2.1.197").initialize["params"]
    assert params["protocolVersion"] == "2025-11-25"
    assert params["clientInfo"]["name"] == "claude-code"
    assert session.channel_capable
    assert session.server_info == {"name": "fakemcp", "version": "1"}
    assert session.instructions == "test server"
    assert session.negotiated_version == "2025-11-25"
    assert session.recorder.sent("server/discover") == []
    assert session.findings == []


def test_discover_opening_sends_the_exact_probe_then_falls_back(fakeclaude_session: StartSession) -> None:
    session = fakeclaude_session("alice", fake("good"), client="claude-code@2.1.331")
    assert session.opening_used == "discover-fallback"
    probe = session.recorder.records[0]
    expected = profiles.load("claude-code@2.1.331").discover_probe
    assert probe.raw == json.dumps(expected, separators=(",", ":"), ensure_ascii=False)
    assert probe.id == DISCOVER_PROBE_ID
    assert session.discover_response is not None
    assert session.discover_response["error"]["code"] == -32601
    flow = [(r.direction, r.method or r.kind) for r in session.recorder.records[:5]]
    assert flow == [
        ("sent", "server/discover"),
        ("received", "response"),
        ("sent", "initialize"),
        ("received", "response"),
        ("sent", "notifications/initialized"),
    ]
    assert session.channel_capable
    emit(session, "after fallback", **{"from": "bob"})
    assert session.wait_for_channel(timeout=2).content == "after fallback"


def test_a_server_that_answers_discover_is_reported_and_gets_no_channel_events(
    fakeclaude_session: StartSession,
) -> None:
    session = fakeclaude_session("alice", fake("discover_ok"), opening="discover")
    assert session.opening_used == "discover"
    assert session.recorder.sent("initialize") == []
    assert session.recorder.sent("notifications/initialized") == []
    assert not session.channel_capable
    assert [w.kind for w in session.warnings] == ["discover_succeeded_without_channel"]
    # Later requests carry the 2026-07-28 per-request _meta.
    emit(session, "pushed after discover")
    call = session.recorder.sent("tools/call")[-1].message
    assert call["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] == "2026-07-28"  # type: ignore[index]
    assert session.channel_events == []
    assert [d.reason for d in session.dropped_events] == [DROPPED_NO_CAPABILITY]


def test_handshake_failure_reports_the_adapter_stderr(tmp_path: Path) -> None:
    manifest = tmp_path / "module.json"
    script = "import sys; sys.stderr.write('boom: no database'); sys.exit(2)"
    manifest.write_text(
        json.dumps(
            {
                "id": "crash",
                "title": "crashes at start",
                "runtime": "claude-code",
                "delivery": "mcp-channel",
                "trigger": "none",
                "command": ["{python}", "-c", script],
            }
        )
    )
    with Sandbox(tmp_path / "sb", adapter=str(manifest)) as bus, pytest.raises(HandshakeError) as caught:
        bus.start_session("alice", timeout=5)
    assert "boom: no database" in str(caught.value)
    assert "exit code 2" in str(caught.value)


# ------------------------------------------------------------------ environment


def test_the_adapter_gets_its_own_env_and_no_stray_agentbus_variables(
    fakeclaude_bus: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTBUS_DB_URL", "sqlite:////should/not/leak.db")
    session = fakeclaude_bus.start_session("alice", fake("good"), env={"EXTRA_VAR": "1"})
    names = ["AGENTBUS_NAME", "AGENTBUS_HOME", "HOME", "EXTRA_VAR", "AGENTBUS_DB_URL"]
    seen = session.call_tool("getenv", {"names": names}).json()
    assert seen == {
        "AGENTBUS_NAME": "alice",
        "AGENTBUS_HOME": str(fakeclaude_bus.bus_home),
        "HOME": str(fakeclaude_bus.home),
        "EXTRA_VAR": "1",
        "AGENTBUS_DB_URL": None,
    }


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize(
    ("kwargs", "flags"),
    [
        ({}, ["--dangerously-load-development-channels", "server:agentbus"]),
        ({"channels": False}, []),
    ],
)
def test_the_adapters_parent_looks_like_claude_code(
    fakeclaude_session: StartSession, kwargs: dict[str, bool], flags: list[str]
) -> None:
    """Adapters may read their parent's argv to learn whether channels are on: it reads like Claude Code's."""
    session = fakeclaude_session("alice", fake("good"), **kwargs)
    seen = session.call_tool("parent_argv").json()
    assert seen["ppid"] == session.pid
    assert seen["pid"] == session.adapter_pid
    argv = seen["argv"]
    cut = argv.index("--")
    assert argv[:cut] == ["claude", "-S", str(SHIM), *flags]
    assert argv[cut + 1 :] == list(session.manifest.command)


def test_as_claude_false_runs_the_adapter_directly(fakeclaude_session: StartSession) -> None:
    session = fakeclaude_session("alice", fake("good"), as_claude=False)
    seen = session.call_tool("parent_argv").json()
    assert seen["pid"] == session.pid == session.adapter_pid
    assert seen["ppid"] == os.getpid()


# ------------------------------------------------------------------ calls


def test_tool_results_errors_and_json_rpc_errors(fakeclaude_session: StartSession) -> None:
    session = fakeclaude_session("alice", fake("good"))
    names = [t["name"] for t in session.list_tools()]
    assert {"echo", "fail", "emit", "send_message"} <= set(names)
    ok = session.call_tool("echo", {"text": "héllo"})
    assert (ok.is_error, ok.text, ok.structured) == (False, "héllo", None)
    assert ok.raw["content"] == [{"type": "text", "text": "héllo"}]
    failed = session.call_tool("fail")
    assert failed.is_error
    assert failed.text == "it failed on purpose"
    with pytest.raises(JsonRpcError) as caught:
        session.call_tool("no_such_tool")
    assert caught.value.code == -32602
    raw = session.request("no/such/method", {})
    assert raw["error"]["code"] == -32601
    assert session.ping() == {"jsonrpc": "2.0", "id": session.recorder.sent("ping")[0].id, "result": {}}


def test_requests_from_the_server_get_sane_answers(fakeclaude_session: StartSession, tmp_path: Path) -> None:
    session = fakeclaude_session("alice", fake("good"), cwd=tmp_path)
    pong = json.loads(session.call_tool("ask_client", {"method": "ping"}).text)
    assert pong["result"] == {}
    roots = json.loads(session.call_tool("ask_client", {"method": "roots/list"}).text)
    assert roots["result"]["roots"][0]["uri"] == tmp_path.resolve().as_uri()
    unknown = json.loads(session.call_tool("ask_client", {"method": "sampling/createMessage"}).text)
    assert unknown["error"]["code"] == -32601


def test_an_adapter_dying_mid_request_fails_fast_with_its_exit_code(fakeclaude_session: StartSession) -> None:
    session = fakeclaude_session("alice", fake("good"))
    started = time.monotonic()
    with pytest.raises(AdapterExited) as caught:
        session.call_tool("exit", {"code": 7}, timeout=30)
    assert time.monotonic() - started < 10
    assert "closed its stdout" in str(caught.value)
    assert session.wait_exit(5) == 7
    result = session.close()
    assert result.already_exited
    assert result.exit_code == 7
    with pytest.raises(AdapterExited):
        session.call_tool("echo", {"text": "anyone?"})


def test_malformed_input_is_sent_raw_and_the_adapter_answer_recorded(fakeclaude_session: StartSession) -> None:
    session = fakeclaude_session("alice", fake("good"))
    record = session.send_raw("{this is not json")
    assert record.kind == "junk"
    assert record.direction == "sent"
    parse_error = session.wait_for_message(predicate=lambda r: r.id is None and r.kind == "response")
    assert parse_error.message["error"]["code"] == -32700  # type: ignore[index]
    assert session.call_tool("echo", {"text": "still alive"}).text == "still alive"


# ------------------------------------------------------------------ recorder


def test_every_message_is_recorded_both_ways_with_monotonic_times(fakeclaude_session: StartSession) -> None:
    before = time.monotonic()
    session = fakeclaude_session("alice", fake("good"))
    session.call_tool("echo", {"text": "x"})
    after = time.monotonic()
    records = session.recorder.records
    assert {r.direction for r in records} == {"sent", "received"}
    assert [r.seq for r in records] == sorted(r.seq for r in records)
    times = [r.at for r in records]
    assert times == sorted(times)
    assert before <= times[0]
    assert times[-1] <= after
    call = session.recorder.sent("tools/call")[0]
    answer = next(r for r in session.recorder.received() if r.id == call.id)
    assert answer.kind == "response"
    assert answer.at >= call.at
    assert "tools/call" in session.recorder.dump()
    session.recorder.clear()
    assert session.recorder.records == []
    session.call_tool("echo", {"text": "y"})
    assert [r.kind for r in session.recorder.records] == ["request", "response"]


# ------------------------------------------------------------------ channel events


def test_channel_event_is_validated_rendered_and_timestamped(fakeclaude_session: StartSession) -> None:
    session = fakeclaude_session("bob", fake("good"))
    before = time.monotonic()
    emit(session, "hi </channel> there", **{"from": "alice", "msg_id": "1", "ts": "T", "msg-id": "x"})
    event = session.wait_for_channel(timeout=2)
    assert event.content == "hi </channel> there"
    assert event.meta == {"from": "alice", "msg_id": "1", "ts": "T", "msg-id": "x"}
    assert event.rendered == (
        '<channel source="agentbus" from="alice" msg_id="1" ts="T">\nhi <\\/channel> there\n</channel>'
    )
    assert event.dropped_keys == ("msg-id",)
    assert before <= event.received_at <= time.monotonic()
    assert [w.kind for w in session.warnings] == ["dropped_meta_keys"]
    assert session.violations == []


def test_wait_for_channel_hands_out_each_event_once_and_honours_predicates(
    fakeclaude_session: StartSession,
) -> None:
    session = fakeclaude_session("bob", fake("good"))
    for n in range(3):
        emit(session, f"m{n}", **{"from": "alice", "msg_id": str(n)})
    assert session.wait_for_channel(lambda e: e.meta["msg_id"] == "2").content == "m2"
    assert session.wait_for_channel().content == "m0"
    assert session.wait_for_channel().content == "m1"
    with pytest.raises(ChannelTimeout) as caught:
        session.wait_for_channel(timeout=0.2)
    assert "3 channel event(s)" in str(caught.value)
    assert len(session.channel_events) == 3


def test_assert_channel_lists_near_misses(fakeclaude_session: StartSession) -> None:
    session = fakeclaude_session("bob", fake("good"))
    emit(session, "hello bob", **{"from": "alice", "msg_id": "1"})
    emit(session, "other", **{"from": "carol", "msg_id": "2"})
    found = session.assert_channel("hello bob", from_="alice")
    assert found.meta["msg_id"] == "1"
    with pytest.raises(AssertionError) as caught:
        session.assert_channel("hello bob", from_="dave", reply_to="9")
    text = str(caught.value)
    assert "no channel event with content='hello bob', from='dave', reply_to='9'" in text
    assert "near misses (2 event(s) received)" in text
    assert "from='alice' (wanted 'dave')" in text
    assert "no meta 'reply_to'" in text
    assert text.index("hello bob\n</channel>") < text.index("other\n</channel>")


def test_assert_channel_can_wait_and_match_patterns(fakeclaude_session: StartSession) -> None:
    import re

    session = fakeclaude_session("bob", fake("good"))
    emit(session, "build 1234 passed", **{"from": "ci"})
    assert session.assert_channel(re.compile(r"build \d+ passed"), within=1.0, from_="ci")


def test_channels_off_drops_events_like_claude_code_without_the_flag(fakeclaude_session: StartSession) -> None:
    session = fakeclaude_session("bob", fake("good"), channels=False)
    emit(session, "you will never see this", **{"from": "alice"})
    assert session.channel_events == []
    assert [d.reason for d in session.dropped_events] == [DROPPED_NO_FLAG]
    assert session.recorder.received("notifications/claude/channel")  # it was on the wire
    with pytest.raises(ChannelTimeout) as caught:
        session.wait_for_channel(timeout=0.1)
    assert "dropped (channels disabled" in str(caught.value)


def test_events_from_a_server_without_the_capability_are_dropped(fakeclaude_session: StartSession) -> None:
    session = fakeclaude_session("bob", fake("no_capability"))
    assert not session.channel_capable
    emit(session, "lost")
    assert session.channel_events == []
    assert [d.reason for d in session.dropped_events] == [DROPPED_NO_CAPABILITY]


def test_on_channel_callback_runs_off_the_reader_and_may_call_the_session(fakeclaude_bus: Sandbox) -> None:
    seen: list[str] = []
    done = threading.Event()

    def on_event(event: ChannelEvent) -> None:
        seen.append(event.rendered)
        seen.append(session.call_tool("echo", {"text": "answered from the callback"}).text)
        done.set()

    session = fakeclaude_bus.start_session("bob", fake("good"), on_channel=on_event)
    emit(session, "ping", **{"from": "alice"})
    assert done.wait(5), session.report()
    assert seen == ['<channel source="agentbus" from="alice">\nping\n</channel>', "answered from the callback"]


# ------------------------------------------------------------------ misbehaving adapters


def test_non_string_meta_is_a_violation_not_an_event(fakeclaude_session: StartSession) -> None:
    session = fakeclaude_session("bob", fake("bad_meta"))
    emit(session, "numbers", **{"from": "alice"})
    assert session.channel_events == []
    [violation] = session.violations
    assert violation.kind == "invalid_channel_params"
    assert "non-string meta msg_id=42 (number)" in violation.detail
    assert violation.record is not None
    assert violation.record.method == "notifications/claude/channel"
    assert "invalid_channel_params" in session.report()


def test_invalid_channel_params_of_every_shape_are_violations(fakeclaude_session: StartSession) -> None:
    session = fakeclaude_session("bob", fake("good"))
    session.wait_channel_ready()
    for params in ({"content": 1}, {"meta": {}}, "text", {"content": "x", "meta": {"a": ["b"]}}):
        session.call_tool("emit_raw", {"params": params})
    assert session.channel_events == []
    assert [v.kind for v in session.violations] == ["invalid_channel_params"] * 4


def test_junk_on_stdout_is_recorded_and_flagged(fakeclaude_session: StartSession) -> None:
    session = fakeclaude_session("alice", fake("junk"))
    assert session.call_tool("echo", {"text": "works anyway"}).text == "works anyway"
    junk = session.junk
    assert junk[0].raw == "fakemcp starting up (this line is junk on the protocol stream)"
    assert all(r.kind == "junk" and r.direction == "received" and r.note == "not JSON" for r in junk)
    assert len(junk) >= 3  # the banner plus one line before each answer
    assert {v.kind for v in session.violations} == {"junk_on_stdout"}
    assert "junk_on_stdout" in session.report()


def test_an_adapter_that_ignores_stdin_eof_is_killed_and_reported(fakeclaude_session: StartSession) -> None:
    session = fakeclaude_session("alice", fake("no_exit"))
    pid = session.pid
    result = session.close(timeout=0.5)
    assert (result.exited, result.killed, result.seconds_to_exit) == (False, True, None)
    assert result.exit_code == -9
    assert "did not exit within 0.5s of stdin EOF; killed" in result.describe()
    assert any(v.kind == "no_exit_on_eof" for v in session.violations)
    assert not session.alive
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_well_behaved_adapter_exits_promptly_on_stdin_eof(fakeclaude_session: StartSession) -> None:
    session = fakeclaude_session("alice", fake("good"))
    result = session.close(timeout=5)
    assert (result.exited, result.killed, result.exit_code) == (True, False, 0)
    assert result.seconds_to_exit is not None
    assert result.seconds_to_exit < 5
    assert session.close() is result  # idempotent


def test_kill_is_immediate(fakeclaude_session: StartSession) -> None:
    session = fakeclaude_session("alice", fake("no_exit"))
    assert session.kill() == -9
    assert not session.alive
    assert session.close().killed


def test_a_chatty_stderr_never_blocks_the_adapter(fakeclaude_session: StartSession) -> None:
    session = fakeclaude_session("alice", fake("chatty"))
    for n in range(8):  # 8 x 256 KiB: far more than a pipe buffer
        assert session.call_tool("echo", {"text": str(n)}).text == str(n)
    assert len(session.stderr) >= 8 * 256 * 1024


def test_sandbox_teardown_ends_every_process(tmp_path: Path) -> None:
    bus = Sandbox(tmp_path / "sb")
    good = bus.start_session("alice", fake("good"))
    stubborn = bus.start_session("bob", fake("no_exit"))
    bus.close_timeout = 0.3
    results = bus.close_all()
    assert results["alice"].exited
    assert results["bob"].killed
    assert not good.alive
    assert not stubborn.alive
