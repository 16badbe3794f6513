"""Record a client profile (``fakeclaude/profiles/claude-code@VERSION.json``) from a real Claude Code binary.

``fakeclaude record-profile --claude PATH [--out DIR] [--runs N]`` (or ``record_profile``) runs the
binary offline (FakeModel) with our adapter behind the recording tap, ``N`` times each:

- a normal session: the opening; a ``ping`` channel event from a fakeclaude peer, which the model
  answers with ``send_message`` (pong) and then ``whoami``, so two ``tools/call`` requests show how
  ids and progress tokens go; Ctrl-C twice;
- a session whose server will not go (``tap --stubborn``), to time Claude Code's shutdown
  escalation: SIGINT and SIGTERM as the tap saw them, SIGKILL as the moment the tap's pid vanished
  from /proc (it cannot be caught), all on CLOCK_MONOTONIC.

Every session also gives one channel-handler registration delay: the tools/list answer on the wire
(the tap's wall clock) to "Channel notifications registered" in Claude Code's MCP log. Those sessions
run the adapter on its channel door (``AGENTBUS_PUSH=channel``). A binary that gives its servers a
messaging socket gets one more session, the native door's: a plain ``claude`` (no channels flag)
whose adapter writes the ping into the socket; its transcript gives the ``native_door`` key (the
variables, the records, the framing the model sees around the text, the origin of the record).

The profile keeps format 1 and every key of the hand-recorded ones: ``opening``,
``after_initialize`` and ``tools_call`` exactly as the binary sent them (only argument values are
ours); ``channel_handler.delay_ms`` is the drop window fakeclaude applies (the larger of 400 and the
longest delay observed, which ``observed_delay_ms`` lists); ``shutdown`` ``after_ms`` is the median
measured gap after SIGINT, rounded to 10 ms. Two keys are added: ``next_tools_call`` (the second call
of the turn, exactly as sent) and ``observed_ms`` on each escalation step (every measured gap).
``channel_rendering`` and ``transcript`` are checked against what the model and the transcript got.
"""

import json
import math
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fakeclaude.live.driver import LiveSession
from fakeclaude.live.home import SERVER_NAME, ClaudeHome
from fakeclaude.live.install import installed_version
from fakeclaude.live.mcplog import ChannelsRegistered, ToolCompleted
from fakeclaude.live.model import FakeModel, after_tool_result, answer_pings, then_call
from fakeclaude.live.procs import pid_alive
from fakeclaude.live.taplog import TapLine, TapLog
from fakeclaude.rendering import render_channel
from fakeclaude.sandbox import Sandbox
from fakeclaude.waiting import wait_until

PROFILES_DIR = Path(__file__).resolve().parents[1] / "profiles"
RENDERING = '<channel source="{source}"{attributes}>\n{content}\n</channel>'
TRANSCRIPT = "{config_dir}/projects/{project_key}/{session_id}.jsonl"
MIN_DROP_WINDOW_MS = 400
SEND = f"mcp__{SERVER_NAME}__send_message"
WHOAMI = f"mcp__{SERVER_NAME}__whoami"
STEP_TIMEOUT = 60.0
#: The recorded sessions' adapters push on the channel door; the native door has a session of its own.
CHANNEL_DOOR = {"AGENTBUS_PUSH": "channel"}
SOCKET_VARIABLES = ["CLAUDE_CODE_MESSAGING_SOCKET", "CLAUDE_CODE_MESSAGING_TOKEN"]
#: What Claude Code's messaging socket takes (its own log prints the two lines; longer lines drop the connection).
NATIVE_LINES = [
    {"type": "auth", "token": "{token}"},
    {"type": "user", "message": {"role": "user", "content": "{content}"}},
]
NATIVE_MAX_LINE = 1 << 20


@dataclass
class NormalRun:
    """What one ordinary session showed: its wire, the registration delay, the server's environment."""

    tap: TapLog
    registration_delay_ms: float
    env_set_by_client: list[str]
    rendering_checked: bool
    transcript_checked: bool


@dataclass
class NativeRun:
    """What the native door showed: the records Claude Code wrote for the write, and the framing around it."""

    enqueue: dict[str, Any]
    user: dict[str, Any]
    framing: tuple[str, str]


@dataclass
class StubbornRun:
    """Signal gaps after SIGINT (ms) for a server that ignores SIGINT and SIGTERM."""

    sigterm_ms: float
    sigkill_ms: float
    registration_delay_ms: float
    log_escalations: list[str] = field(default_factory=list)


def registration_delay_ms(tap: TapLog, registered: ChannelsRegistered) -> float:
    """tools/list answered on the wire (tap's wall clock) -> "Channel notifications registered" (MCP log)."""
    request = tap.first("in", "tools/list")
    answer = tap.response_to(request) if request is not None else None
    if answer is None:
        raise RuntimeError(f"no tools/list answer in {tap.path}")
    return (registered.epoch - tap.wall_at(answer.t)) * 1000


def _wait_tap(path: Path, check: Callable[[TapLog], bool], what: str) -> TapLog:
    def ready() -> TapLog | None:
        tap = TapLog.read(path) if path.exists() else None
        return tap if tap is not None and check(tap) else None

    return wait_until(ready, STEP_TIMEOUT, what)


def normal_run(claude: Path, root: Path, say: Callable[[str], None]) -> NormalRun:
    """One session: opening, ping -> send_message(pong) -> whoami, quit."""
    tap_path = root / "tap.jsonl"
    rules = [answer_pings(), then_call(SEND, WHOAMI), after_tool_result()]
    with FakeModel(rules=rules) as model, Sandbox(root / "peers") as peers:
        home = ClaudeHome.create(root / "claude", peers.bus_home, tap_log=tap_path, server_env=CHANNEL_DOOR)
        live = LiveSession(claude, home, model, "bob")
        try:
            live.start()
            assert live.registered is not None
            alice = peers.start_session("alice")
            alice.call_tool("send_message", {"to": "bob", "text": "ping"}, timeout=STEP_TIMEOUT)
            pong = alice.wait_for_channel(lambda event: event.content == "pong", timeout=STEP_TIMEOUT)
            say(f"  pong arrived: {pong.rendered!r}")
            done = model.wait_for(
                lambda r: any(name == WHOAMI for name, _ in r.tool_results()) and r.replied_at is not None,
                STEP_TIMEOUT,
            )
            if done is None:
                raise RuntimeError(f"the model never got the whoami result; screen:\n{live.screen_plain()[-1500:]}")
            live.mcp_log.wait_for(ToolCompleted, STEP_TIMEOUT, lambda e: e.tool == "whoami", what="whoami completed")
            rendering_checked = _check_rendering(model, tap_path)
            transcript_checked = _check_transcript(live)
            env_names = list(live.env)
            live.quit()
            tap = _wait_tap(tap_path, lambda t: t.exited, "the tap's exit record")
            delay = registration_delay_ms(tap, live.registered)
        finally:
            live.close()
    client_set = sorted(name for name in tap.env_names if name not in env_names and name not in CHANNEL_DOOR)
    return NormalRun(tap, delay, client_set, rendering_checked, transcript_checked)


def native_run(claude: Path, root: Path, say: Callable[[str], None]) -> NativeRun:
    """A plain ``claude``: the adapter writes a ping into the messaging socket; read what the transcript got."""
    with FakeModel(rules=[answer_pings(), after_tool_result()]) as model, Sandbox(root / "peers") as peers:
        home = ClaudeHome.create(root / "claude", peers.bus_home)
        live = LiveSession(claude, home, model, "bob", channels=False)
        try:
            live.start()
            alice = peers.start_session("alice")
            sent = alice.call_tool("send_message", {"to": "bob", "text": "ping"}, timeout=STEP_TIMEOUT)
            pong = alice.wait_for_channel(lambda event: event.content == "pong", timeout=STEP_TIMEOUT)
            say(f"  native door: pong arrived: {pong.rendered!r}")
            tag = f'msg_id="{sent.json()["msg_id"]}"'
            path = live.transcript_path

            def records() -> tuple[dict[str, Any], dict[str, Any]] | None:
                found = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
                enqueue = next((r for r in found if r.get("operation") == "enqueue" and tag in str(r)), None)
                user = next((r for r in found if r.get("type") == "user" and tag in str(r.get("message"))), None)
                return (enqueue, user) if enqueue is not None and user is not None else None

            found: tuple[dict[str, Any], dict[str, Any]] = wait_until(
                lambda: records() if path.exists() else None, STEP_TIMEOUT, "the native records"
            )
            enqueue, user = found
            live.quit()
        finally:
            live.close()
    written, shown = enqueue["content"], user["message"]["content"]
    if written not in shown:
        raise RuntimeError(f"the model was not shown the text written to the socket: {shown!r}")
    head, _, tail = shown.partition(written)
    return NativeRun(enqueue, user, (head, tail))


def stubborn_run(claude: Path, root: Path) -> StubbornRun:
    """One session whose server ignores SIGINT/SIGTERM: when does Claude Code escalate?"""
    tap_path = root / "tap.jsonl"
    with FakeModel() as model:
        home = ClaudeHome.create(root / "claude", root / "agentbus-home", tap_log=tap_path, stubborn=True)
        live = LiveSession(claude, home, model, "bob")
        try:
            live.start()
            assert live.registered is not None
            tap = _wait_tap(tap_path, lambda t: bool(t.lines("out")), "the tap's first answer")
            died: list[float] = []

            def watch(pid: int = tap.pid) -> None:
                deadline = time.monotonic() + STEP_TIMEOUT
                while pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.0005)  # SIGKILL leaves no trace but the pid's end
                died.append(time.monotonic())

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            live.quit()
            watcher.join(STEP_TIMEOUT)
            if pid_alive(tap.pid):
                raise RuntimeError(f"the stubborn tap (pid {tap.pid}) outlived Claude Code's shutdown")
            tap = TapLog.read(tap_path)
            if tap.exited:
                raise RuntimeError("the stubborn tap ended by itself: Claude Code never sent SIGKILL")
            signals = dict((name, t) for name, t in reversed(tap.signals()))
            if "SIGINT" not in signals or "SIGTERM" not in signals:
                raise RuntimeError(f"expected SIGINT then SIGTERM, the tap saw {tap.signals()}")
            sigint = signals["SIGINT"]
            escalations = [entry.message for entry in live.mcp_log.escalations()]
            return StubbornRun(
                sigterm_ms=(signals["SIGTERM"] - sigint) * 1000,
                sigkill_ms=(died[0] - tap.mono_at(sigint)) * 1000,
                registration_delay_ms=registration_delay_ms(tap, live.registered),
                log_escalations=escalations,
            )
        finally:
            live.close()


def _check_rendering(model: FakeModel, tap_path: Path) -> bool:
    """The ping the model was shown equals RENDERING filled with the pushed event."""
    tap = TapLog.read(tap_path)
    pushed = next(line for line in tap.lines("out") if line.method == "notifications/claude/channel")
    assert pushed.message is not None
    params = pushed.message["params"]
    expected = render_channel(params["content"], params.get("meta") or {}, SERVER_NAME)
    as_template = RENDERING.format(
        source=SERVER_NAME,
        attributes=expected[len(f'<channel source="{SERVER_NAME}"') : expected.index(">")],
        content=params["content"],
    )
    shown = "\n".join(request.text() for request in model.requests)
    if as_template not in shown:
        raise RuntimeError(f"Claude Code no longer renders events as {RENDERING!r}: wanted {as_template!r}")
    return True


def _check_transcript(live: LiveSession) -> bool:
    path = live.transcript_path
    wait_until(lambda: path.exists() and "ping" in path.read_text(), STEP_TIMEOUT, f"the transcript {path}")
    return True


def _messages(lines: list[TapLine]) -> list[dict[str, Any]]:
    return [line.message for line in lines if line.message is not None]


def wire_parts(tap: TapLog) -> dict[str, Any]:
    """opening, after_initialize, tools_call, next_tools_call: the client's messages exactly as sent."""
    incoming = tap.lines("in")
    initialize = next(line for line in incoming if line.method == "initialize")
    answer = tap.response_to(initialize)
    assert answer is not None, "initialize was never answered"
    opening = [line for line in incoming if line.t <= initialize.t]
    outgoing_after = [line.t for line in tap.lines("out") if line.t > answer.t]
    until = outgoing_after[0] if outgoing_after else math.inf
    after = [line for line in incoming if answer.t < line.t < until]
    calls = [line for line in incoming if line.method == "tools/call"]
    if len(calls) < 2:
        raise RuntimeError(f"expected two tools/call requests, the tap saw {len(calls)}")
    return {
        "opening": _messages(opening),
        "after_initialize": _messages(after),
        "tools_call": calls[0].message,
        "next_tools_call": calls[1].message,
    }


def _binary_label(claude: Path, version: str) -> str:
    return f"npm:@anthropic-ai/claude-code@{version}" if "@anthropic-ai" in str(claude.resolve()) else str(claude)


def _step_ms(values: list[float]) -> int:
    return int(round(statistics.median(values), -1))


def build_profile(
    version: str,
    claude: Path,
    normal: list[NormalRun],
    stubborn: list[StubbornRun],
    native: NativeRun | None = None,
) -> dict[str, Any]:
    """The profile document, key for key in the order of format 1 (``native_door`` last, when recorded)."""
    parts = wire_parts(normal[0].tap)
    runs: list[NormalRun | StubbornRun] = [*normal, *stubborn]
    delays = [round(run.registration_delay_ms) for run in runs]
    env_names = sorted({name for run in normal for name in run.env_set_by_client})
    sessions = len(normal) + len(stubborn) + (native is not None)
    profile: dict[str, Any] = {
        "format": 1,
        "id": f"claude-code@{version}",
        "client": "claude-code",
        "version": version,
        "recorded": {
            "on": datetime.now(UTC).date().isoformat(),
            "binary": _binary_label(claude, version),
            "by": f"fakeclaude record-profile ({sessions} sessions through fakeclaude.live.tap)",
        },
        "opening": parts["opening"],
        "after_initialize": parts["after_initialize"],
        "tools_call": parts["tools_call"],
        "next_tools_call": parts["next_tools_call"],
        "channel_handler": {
            "registered_after": "tools/list",
            "delay_ms": max(MIN_DROP_WINDOW_MS, max(delays)),
            "observed_delay_ms": delays,
            "note": "events written before the handler is registered are dropped silently",
        },
        "channel_rendering": RENDERING,
        "shutdown": [
            {"signal": "SIGINT", "after_ms": 0},
            {
                "signal": "SIGTERM",
                "after_ms": _step_ms([run.sigterm_ms for run in stubborn]),
                "observed_ms": [round(run.sigterm_ms) for run in stubborn],
            },
            {
                "signal": "SIGKILL",
                "after_ms": _step_ms([run.sigkill_ms for run in stubborn]),
                "observed_ms": [round(run.sigkill_ms) for run in stubborn],
            },
        ],
        "server_env": env_names,
        "transcript": {"path": TRANSCRIPT},
    }
    if native is not None:
        profile["native_door"] = {
            "env": SOCKET_VARIABLES,
            "lines": NATIVE_LINES,
            "max_line_chars": NATIVE_MAX_LINE,
            "answers": "nothing",
            "enqueue_record": sorted(native.enqueue),
            "user_record": {
                key: native.user[key] for key in ("isMeta", "promptSource", "turnOrigin") if key in native.user
            },
            "origin": {
                key: native.user["origin"][key] for key in ("kind", "from", "selfSent") if key in native.user["origin"]
            },
            "framing": {"before": native.framing[0], "after": native.framing[1]},
            "note": "the origin names the writer's pid (verifiedPeerPid); a write made before the session is ready "
            "is kept; in bypass-permissions mode the origin also says selfSent for the session's own child, whose "
            "writes are then accepted where any other writer's are held",
        }
    return profile


def record_profile(
    claude: Path, out_dir: Path = PROFILES_DIR, runs: int = 2, say: Callable[[str], None] = print
) -> Path:
    """Drive ``claude`` (``runs`` normal and ``runs`` stubborn sessions) and write its profile; the path."""
    claude = Path(claude).absolute()
    version = installed_version(claude)
    say(f"recording Claude Code {version} ({claude})")
    normal: list[NormalRun] = []
    stubborn: list[StubbornRun] = []
    with tempfile.TemporaryDirectory(prefix=f"record-{version}-") as scratch:
        for index in range(runs):
            run = normal_run(claude, Path(scratch) / f"normal-{index}", say)
            delay = run.registration_delay_ms
            say(f"  session {index + 1}: channel handler registered {delay:.0f} ms after the tools/list answer")
            normal.append(run)
        for index in range(runs):
            stub = stubborn_run(claude, Path(scratch) / f"stubborn-{index}")
            say(
                f"  stubborn server {index + 1}: SIGTERM +{stub.sigterm_ms:.0f} ms, SIGKILL +{stub.sigkill_ms:.0f} ms "
                f"after SIGINT; registered {stub.registration_delay_ms:.0f} ms after tools/list"
            )
            stubborn.append(stub)
        native = None
        if all(name in normal[0].env_set_by_client for name in SOCKET_VARIABLES):
            native = native_run(claude, Path(scratch) / "native", say)
    profile = build_profile(version, claude, normal, stubborn, native)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"claude-code@{version}.json"
    path.write_text(json.dumps(profile, indent=2, ensure_ascii=False) + "\n")
    say(f"wrote {path}")
    return path
