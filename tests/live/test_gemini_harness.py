"""The real Gemini CLI, offline in a pty against FakeGeminiApi: what its prompts, hooks, MCP servers and idle turns do.

Each test starts the pinned ``gemini`` in a scratch HOME (``GeminiHome``) with its own FakeGeminiApi
port. The hook and the MCP server are small scripts written here; they log what Gemini gave them
(stdin, pid, parent chain, environment) as JSON lines. What these tests print is what
docs/gemini.md records. They skip, with npm's reason, only when the registry cannot be reached.
"""

import json
import shlex
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from fakeclaude.live.gemini import GeminiHome, LiveGemini
from fakeclaude.live.gemini_api import FakeGeminiApi, GeminiRequest, call_on_prompt, default_rules
from fakeclaude.live.install import GEMINI_VERSIONS
from fakeclaude.waiting import wait_until

STEP = 60.0
#: Shell commands run without a confirmation dialog (``tools.allowed``), except one with a redirection
#: ("Redirection detected"); ``--approval-mode=yolo`` allows that too.
ALLOW_SHELL = {"allowed": ["run_shell_command"]}
HOOKED = ("SessionStart", "BeforeAgent", "AfterTool", "AfterAgent", "SessionEnd")
PING = '<channel source="agentbus" from="alice" msg_id="7">ping</channel>'

#: A hook: logs its stdin, timing, parent chain and environment; AfterTool and BeforeAgent add context,
#: the first AfterAgent sends the turn back.
HOOK = textwrap.dedent(
    """
    import json, os, sys, time
    started = time.time()
    log = sys.argv[1]
    event = json.loads(sys.stdin.read() or "{}")
    chain, pid = [], os.getpid()
    while pid > 1:
        try:
            stat = open(f"/proc/{pid}/stat").read()
            argv = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace").split("\\0")
        except OSError:
            break
        chain.append({"pid": pid, "argv": [arg for arg in argv if arg][:3]})
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    name = event.get("hook_event_name")
    answer = {}
    if name == "AfterTool":
        answer = {"hookSpecificOutput": {"hookEventName": "AfterTool", "additionalContext": "MARKER-1"}}
    elif name == "BeforeAgent":
        answer = {"hookSpecificOutput": {"hookEventName": "BeforeAgent", "additionalContext": "MARKER-2"}}
    elif name == "AfterAgent" and not os.path.exists(log + ".denied"):
        open(log + ".denied", "w").close()
        answer = {"decision": "deny", "reason": "MARKER-3"}
    env = {key: value for key, value in os.environ.items() if key.startswith(("AGENTBUS_", "GEMINI_", "CLAUDE_"))}
    line = {"stdin": event, "started": started, "ended": time.time(), "chain": chain, "env": env, "answer": answer}
    with open(log, "a") as handle:
        handle.write(json.dumps(line) + "\\n")
    print(json.dumps(answer))
    """
)

#: An MCP stdio server with one tool, send_message: logs every message it gets, its parent chain and its end.
MCP_SERVER = textwrap.dedent(
    """
    import json, os, signal, sys, time
    log = sys.argv[1]
    def write(entry):
        with open(log, "a") as handle:
            handle.write(json.dumps({"at": time.time(), **entry}) + "\\n")
    def chain():
        found, pid = [], os.getpid()
        while pid > 1:
            try:
                stat = open(f"/proc/{pid}/stat").read()
                argv = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace").split("\\0")
            except OSError:
                break
            found.append({"pid": pid, "argv": [arg for arg in argv if arg][:3]})
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        return found
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, lambda signum, _frame: (write({"signal": signal.Signals(signum).name}), sys.exit(0)))
    write({"started": True, "chain": chain()})
    tool = {
        "name": "send_message",
        "description": "Send a message to another session.",
        "inputSchema": {
            "type": "object",
            "properties": {"to": {"type": "string"}, "text": {"type": "string"}, "reply_to": {"type": "integer"}},
            "required": ["to", "text"],
        },
    }
    for line in sys.stdin:
        message = json.loads(line)
        write({"message": message})
        if "id" not in message or "method" not in message:
            continue
        method = message["method"]
        if method == "initialize":
            version = message["params"]["protocolVersion"]
            info = {"name": "agentbus", "version": "0"}
            result = {"protocolVersion": version, "capabilities": {"tools": {}}, "serverInfo": info}
        elif method == "tools/list":
            result = {"tools": [tool]}
        elif method == "tools/call":
            result = {"content": [{"type": "text", "text": "sent"}]}
        else:
            result = {}
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}) + "\\n")
        sys.stdout.flush()
    write({"eof": True})
    """
)


@pytest.fixture
def home(tmp_path: Path) -> GeminiHome:
    return GeminiHome.create(tmp_path / "gemini", tmp_path / "bus")


@pytest.fixture
def live_gemini(gemini: Path, home: GeminiHome, gemini_api: FakeGeminiApi) -> Iterator[Callable[..., LiveGemini]]:
    """Factory: ``live_gemini(name="gem", start=True)`` -> a LiveGemini, killed at teardown if still there."""
    sessions: list[LiveGemini] = []

    def make(name: str = "gem", *, start: bool = True, **kwargs: Any) -> LiveGemini:
        session = LiveGemini(gemini, home, gemini_api, name=name, **kwargs)
        sessions.append(session)
        return session.start() if start else session

    try:
        yield make
    finally:
        for session in sessions:
            session.close()


def _script(home: GeminiHome, name: str, text: str) -> Path:
    path = home.root / name
    path.write_text(text)
    return path


def _hook_settings(script: Path, log: Path) -> dict[str, Any]:
    command = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {shlex.quote(str(log))}"
    return {event: [{"hooks": [{"type": "command", "command": command, "name": "record"}]}] for event in HOOKED}


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _wall(monotonic: float) -> float:
    return monotonic + time.time() - time.monotonic()


def _iso(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _brief(event: dict[str, Any]) -> dict[str, Any]:
    """A hook's stdin with tool_response.returnDisplay (a screen of styled cells) cut short."""
    shown = dict(event)
    if isinstance(shown.get("tool_response"), dict):
        response = dict(shown["tool_response"])
        response["returnDisplay"] = f"<{type(response.get('returnDisplay')).__name__}, cut>"
        shown["tool_response"] = response
    return shown


def test_a_typed_prompt_reaches_the_api_and_the_answer_shows(
    live_gemini: Callable[..., LiveGemini], gemini_api: FakeGeminiApi
) -> None:
    gemini_api.fallback_text = "FAKE-ANSWER-42"
    session = live_gemini()
    print(f"gemini {GEMINI_VERSIONS[-1]}: ready {session.titles[0][0] - (session.started_at or 0):.2f}s after spawn")
    since = time.monotonic()
    session.type_prompt("say hi")

    def asked(request: GeminiRequest) -> bool:
        return request.is_main_loop() and "say hi" in request.last_user_texts()

    request = gemini_api.wait_for(asked, STEP)
    assert request is not None, f"the prompt never reached the API: {[r.path for r in gemini_api.requests]}"
    session.expect("FAKE-ANSWER-42", STEP, stripped=True, what="the model's answer")
    session.wait_idle(STEP, since=since)
    for seen in gemini_api.requests:
        kind = (
            "turn"
            if seen.is_main_loop()
            else f"utility (schema {sorted((seen.response_schema() or {}).get('properties', {}))})"
        )
        print(f"  {seen.method} {seen.model}: {kind} -> {seen.reply!r}"[:200])
    print(f"  other paths: {[(other.method, other.path) for other in gemini_api.other_requests]}")
    print(f"  declared functions: {request.function_names}")
    record = session.chat_record_path()
    assert record is not None
    assert record.parent.parent.parent == session.home.home / ".gemini" / "tmp"
    messages = session.chat_messages()
    assert [m["type"] for m in messages][-2:] == ["user", "gemini"], messages
    assert messages[-2]["content"] == [{"text": "say hi"}]
    assert messages[-1]["content"] == "FAKE-ANSWER-42"
    print(f"  chat record {record}:\n{json.dumps(messages[-1], indent=2)}")
    assert session.quit() == 0


def test_hooks_fire_in_order_and_their_answers_reach_the_model(
    live_gemini: Callable[..., LiveGemini], home: GeminiHome, gemini_api: FakeGeminiApi
) -> None:
    log = home.root / "hooks.jsonl"
    home.settings["hooks"] = _hook_settings(_script(home, "hook.py", HOOK), log)
    home.settings["tools"] = ALLOW_SHELL
    gemini_api.rules = [call_on_prompt("run echo", "run_shell_command", {"command": "echo hi"}), *default_rules()]
    session = live_gemini()
    wait_until(lambda: _lines(log), STEP, "the SessionStart hook")
    since = time.monotonic()
    session.type_prompt("run echo")
    wait_until(
        lambda: [c for c in _lines(log) if c["stdin"].get("stop_hook_active")], STEP, "the second AfterAgent hook"
    )
    session.wait_idle(STEP, since=since)
    calls = _lines(log)
    events = [call["stdin"]["hook_event_name"] for call in calls]
    assert events == ["SessionStart", "BeforeAgent", "AfterTool", "AfterAgent", "BeforeAgent", "AfterAgent"]
    for call in calls:
        print(f"  {call['stdin']['hook_event_name']} stdin: {json.dumps(_brief(call['stdin']))}")

    turns = gemini_api.main_requests()
    prompt = next(r for r in turns if "run echo" in r.last_user_texts())
    after_tool = next(r for r in turns if r.is_function_response())
    retries = [r for r in turns if "MARKER-3" in r.last_user_texts()]
    assert "<hook_context>MARKER-2</hook_context>" in prompt.last_user_texts()
    assert after_tool.function_responses()[0][0] == "run_shell_command"
    assert "<hook_context>MARKER-1</hook_context>" in after_tool.function_responses()[0][1]["output"]
    assert len(retries) == 1, [r.last_user_texts() for r in turns]
    assert retries[0].last_user_texts() == ["MARKER-3", "<hook_context>MARKER-2</hook_context>"]

    start, before, tool, after, before_again, after_again = (call["stdin"] for call in calls)
    assert start["source"] == "startup"
    assert (before["prompt"], before_again["prompt"]) == ("run echo", "MARKER-3")
    assert tool["tool_name"] == "run_shell_command"
    assert tool["tool_input"] == {"command": "echo hi"}
    assert "Output: hi" in tool["tool_response"]["llmContent"]
    assert (after["prompt_response"], after["stop_hook_active"]) == ("Done.", False)
    assert (after_again["prompt"], after_again["stop_hook_active"]) == ("run echo", True)
    cli = session.cli_pid()
    for call in calls:
        assert call["stdin"]["session_id"] == session.session_id
        assert call["stdin"]["transcript_path"] == str(session.chat_record_path())
        assert call["stdin"]["cwd"] == str(home.project)
        assert call["chain"][1]["pid"] == cli, call["chain"]
        assert call["env"]["AGENTBUS_NAME"] == "gem"
        assert call["env"]["GEMINI_SESSION_ID"] == session.session_id
    print(f"  hook chain: {calls[0]['chain'][:3]}")
    print(f"  hook env: {calls[1]['env']}")

    # What each hook cost: Gemini's input timestamp -> the hook running -> its exit -> Gemini's next request.
    for call in calls:
        stamped, started, ended = _iso(call["stdin"]["timestamp"]), call["started"], call["ended"]
        line = f"  {call['stdin']['hook_event_name']}: input -> running {1000 * (started - stamped):.0f} ms"
        line += f", ran {1000 * (ended - started):.0f} ms"
        later = [r for r in gemini_api.requests if _wall(r.at) > ended]
        if call["stdin"]["hook_event_name"] != "SessionStart" and later:
            line += f", exit -> next request ({later[0].method}) {1000 * (_wall(later[0].at) - ended):.0f} ms"
        print(line)

    assert session.quit("quit") == 0
    ends = [c["stdin"] for c in _lines(log) if c["stdin"]["hook_event_name"] == "SessionEnd"]
    assert ends, "no SessionEnd hook"
    print(f"  /quit: SessionEnd x{len(ends)}: {json.dumps(ends[0])}")


def test_an_mcp_server_is_a_sibling_of_the_hooks_and_its_tool_is_called(
    live_gemini: Callable[..., LiveGemini], home: GeminiHome, gemini_api: FakeGeminiApi
) -> None:
    log, server_log = home.root / "hooks.jsonl", home.root / "mcp.jsonl"
    home.settings["hooks"] = _hook_settings(_script(home, "hook.py", HOOK), log)
    server = _script(home, "server.py", MCP_SERVER)
    home.settings["mcpServers"] = {
        "agentbus": {"command": sys.executable, "args": [str(server), str(server_log)], "trust": True}
    }
    session = live_gemini()
    since = time.monotonic()
    session.type_prompt(PING)
    called = wait_until(
        lambda: [e for e in _lines(server_log) if e.get("message", {}).get("method") == "tools/call"],
        STEP,
        "the tools/call of send_message",
    )
    session.wait_idle(STEP, since=since)
    entries = _lines(server_log)
    methods = [e["message"].get("method") for e in entries if "message" in e]
    assert methods[:3] == ["initialize", "notifications/initialized", "tools/list"], methods
    initialize = entries[1]["message"]["params"]
    print(f"  initialize params: {json.dumps(initialize)}")
    print(f"  messages: {methods}")
    assert initialize["clientInfo"] == {"name": "gemini-cli-mcp-client", "version": GEMINI_VERSIONS[-1]}
    call = called[0]["message"]["params"]
    assert call["name"] == "send_message"
    assert call["arguments"] == {"to": "alice", "text": "pong", "reply_to": 7}
    print(f"  tools/call params: {json.dumps(call)}")

    turn = gemini_api.wait_for(lambda r: r.is_main_loop() and r.reply is not None and not isinstance(r.reply, str), 0)
    assert turn is not None
    assert "mcp_agentbus_send_message" in turn.function_names
    declared = next(
        d for t in turn.body["tools"] for d in t["functionDeclarations"] if d["name"] == "mcp_agentbus_send_message"
    )
    print(f"  declared: {json.dumps(declared)}")
    done = next(r for r in gemini_api.main_requests() if r.is_function_response())
    print(f"  function response: {done.function_responses()}")

    cli = session.cli_pid()
    server_chain = entries[0]["chain"]
    hook_chain = _lines(log)[0]["chain"]
    print(f"  server chain: {server_chain[:3]}")
    print(f"  hook chain:   {hook_chain[:3]}")
    assert server_chain[1]["pid"] == cli == hook_chain[1]["pid"]
    assert server_chain[2]["pid"] == session.pid
    session_start = _iso(_lines(log)[0]["stdin"]["timestamp"])
    print(f"  server started {1000 * (session_start - entries[0]['at']):.0f} ms before the SessionStart hook's input")

    quit_at = time.time()
    assert session.quit() == 0
    ending = wait_until(
        lambda: [e for e in _lines(server_log) if "signal" in e or "eof" in e], 10, "the server to be told to stop"
    )
    got = [(entry.get("signal", "stdin EOF"), round(entry["at"] - quit_at, 3)) for entry in ending]
    print(f"  at quit the server got (s after quit began): {got}")


@pytest.mark.parametrize("steering", [False, True], ids=["inject", "inject+modelSteering"])
def test_a_background_command_that_ends_while_idle(
    live_gemini: Callable[..., LiveGemini], home: GeminiHome, gemini_api: FakeGeminiApi, steering: bool
) -> None:
    """``tools.shell.backgroundCompletionBehavior: "inject"`` queues a background command's output.

    Alone, the output waits for the next turn's next tool result (it rides in front of the
    functionResponse as a "User steering update"). With ``experimental.modelSteering`` the idle
    session submits it at once as a new turn.
    """
    exited = home.root / "exited"
    command = f"sleep 3; touch {shlex.quote(str(exited))}; echo WOKE"  # no redirection: that asks even when allowed
    home.settings["tools"] = {**ALLOW_SHELL, "shell": {"backgroundCompletionBehavior": "inject"}}
    if steering:
        home.settings["experimental"] = {"modelSteering": True}
    gemini_api.rules = [
        call_on_prompt("start it", "run_shell_command", {"command": command, "is_background": True}),
        call_on_prompt("run echo", "run_shell_command", {"command": "echo hi"}),
        *default_rules(),
    ]
    session = live_gemini()
    since = time.monotonic()
    session.type_prompt("start it")
    idle_at = session.wait_idle(STEP, since=since)
    wait_until(exited.exists, STEP, "the background command to end")
    exit_at = exited.stat().st_mtime
    turns_before = len(gemini_api.main_requests())

    def woke(request: GeminiRequest) -> bool:
        return request.is_main_loop() and any("WOKE" in text for text in request.last_user_texts())

    if steering:
        request = gemini_api.wait_for(woke, STEP)
        assert request is not None
        after = _wall(request.at) - exit_at
        print(f"  idle {exit_at - _wall(idle_at):.2f}s before the exit; a new turn {after:.3f}s after it")
        print(f"  its user content: {request.last_user_texts()}")
        assert not request.is_function_response()
        session.wait_idle(STEP, since=idle_at)  # its Working title comes before its request
    else:
        session.type_prompt("run echo")
        request = gemini_api.wait_for(woke, STEP)
        assert request is not None
        turns = gemini_api.main_requests()
        assert "run echo" in turns[turns_before].last_user_texts(), "a turn started on its own while idle"
        assert request is turns[turns_before + 1], [r.last_user_texts() for r in turns]
        assert request.is_function_response()
        print(f"  no turn while idle; the output came with the next tool result: {request.last_user_texts()}")
    assert session.quit() == 0
