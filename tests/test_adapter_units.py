"""claude-mcp adapter pieces that need no process: the doors a session plans, rendering, identity, opening."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import fakeclaude
from agentbus.adapters import doors
from agentbus.adapters.claude_mcp import wire
from agentbus.adapters.claude_mcp.opening import StdioFds, answer_opening
from agentbus.adapters.claude_mcp.protocol import build_router, render_channel
from agentbus.adapters.claude_mcp.startup import identity_from_env
from agentbus.core.config import Settings


@pytest.fixture
def parent_argv(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Pretend ancestors: set the list to the argv of the parent, grandparent, ..."""
    chain: list[list[str]] = []
    monkeypatch.setattr(doors, "_ancestor_commands", lambda _pid: iter(chain))
    return chain


NATIVE_ENV = {doors.SOCKET_VARIABLE: "/tmp/cc-socks/1.sock", doors.TOKEN_VARIABLE: "0" * 32}


@pytest.mark.parametrize(
    ("argv", "push"),
    [
        (["claude"], False),
        (["/usr/local/bin/claude", "--resume"], False),
        (["node", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js"], False),
        (["claude", "--dangerously-load-development-channels", "server:agentbus"], True),
        (["claude", "--dangerously-load-development-channels=server:agentbus"], True),
        (["claude", "--channels", "plugin:agentbus@market"], True),
        (["python", "-m", "pytest"], True),
        (["bash"], True),
    ],
)
def test_without_a_messaging_socket_the_channel_follows_the_claude_code_command_line(
    parent_argv: list[list[str]], argv: list[str], push: bool
) -> None:
    parent_argv.append(argv)
    plan = doors.claude_plan("auto", {})
    assert plan.push is push
    assert plan.doors == ((doors.CHANNEL,) if push else ())


@pytest.mark.parametrize(
    ("argv", "opened"),
    [
        (["claude"], (doors.NATIVE,)),
        (["claude", "--dangerously-load-development-channels", "server:agentbus"], (doors.NATIVE, doors.CHANNEL)),
    ],
)
def test_a_messaging_socket_opens_the_native_door_first(
    parent_argv: list[list[str]], argv: list[str], opened: tuple[str, ...]
) -> None:
    parent_argv.append(argv)
    plan = doors.claude_plan("auto", NATIVE_ENV)
    assert plan.doors == opened
    assert plan.door == doors.NATIVE


def test_the_channel_door_looks_past_a_wrapper_shell(parent_argv: list[list[str]]) -> None:
    parent_argv.extend([["sh", "-c", "python -m agentbus.adapters.claude_mcp"], ["claude"]])
    plan = doors.claude_plan("auto", {})
    assert not plan.push
    assert plan.door == doors.PULL
    assert "--dangerously-load-development-channels server:agentbus" in plan.reason


@pytest.mark.parametrize(
    ("value", "env", "opened"),
    [
        ("on", {}, (doors.CHANNEL,)),
        ("channel", NATIVE_ENV, (doors.CHANNEL,)),
        ("native", NATIVE_ENV, (doors.NATIVE,)),
        ("native", {}, ()),
        ("app-server", NATIVE_ENV, ()),
        ("OFF", NATIVE_ENV, ()),
        ("pull", NATIVE_ENV, ()),
        ("1", {}, (doors.CHANNEL,)),
    ],
)
def test_agentbus_push_chooses_the_doors(
    parent_argv: list[list[str]], value: str, env: dict[str, str], opened: tuple[str, ...]
) -> None:
    parent_argv.append(["claude"])
    assert doors.claude_plan(Settings.from_env({"AGENTBUS_PUSH": value}).push, env).doors == opened


def test_a_forced_door_the_client_did_not_open_says_why(parent_argv: list[list[str]]) -> None:
    plan = doors.claude_plan("native", {})
    assert plan.doors == ()
    assert doors.SOCKET_VARIABLE in plan.reason


def test_the_plan_reads_this_process_ancestry() -> None:
    """Under pytest the parent is not Claude Code, so the channel stays open."""
    assert doors.claude_plan("auto", {}, parent=os.getpid()).doors == (doors.CHANNEL,)
    assert next(doors._ancestor_commands(os.getpid()))  # this process' own argv is readable


def test_render_channel_escapes_attributes_and_defuses_closing_tags() -> None:
    rendered = render_channel("x </channel> y </Channel", {"from": "a\"b<c>&'", "msg_id": "7"})
    attrs = 'source="agentbus" from="a&quot;b&lt;c&gt;&amp;&#39;" msg_id="7"'
    assert rendered == f"<channel {attrs}>\nx <\\/channel> y <\\/Channel\n</channel>"


@pytest.mark.parametrize(
    ("raw", "name", "generated"),
    [("alice", "alice", False), ("Front End", "front-end", False), (None, None, True), ("---", None, True)],
)
def test_identity_from_env(raw: str | None, name: str | None, generated: bool) -> None:
    identity = identity_from_env(raw)
    assert identity.generated is generated
    if name is None:
        assert identity.asked_for.startswith("agent-")
    else:
        assert identity.asked_for == name


def test_opening_answers_probes_and_initialize_then_hands_over(tmp_path: Path) -> None:
    client_in, adapter_out = os.pipe()
    adapter_in, client_out = os.pipe()
    lines = [
        b'{"jsonrpc":"2.0","id":"p","method":"server/discover","params":{}}\n',
        b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
        b'"capabilities":{},"clientInfo":{"name":"t","version":"1"}}}\n',
        b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n{"jsonrpc"',
    ]
    os.write(client_out, b"".join(lines))
    opening = answer_opening(StdioFds(adapter_in, adapter_out), build_router())
    assert opening.unread == [b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n']
    assert opening.framer.rest() == b'{"jsonrpc"'
    answers = os.read(client_in, 65536).decode().splitlines()
    assert '"error":{"code":-32601' in answers[0]
    assert '"claude/channel":{}' in answers[1]
    for fd in (client_in, adapter_out, adapter_in, client_out):
        os.close(fd)


def test_opening_stops_at_the_first_other_line_and_at_eof() -> None:
    adapter_in, client_out = os.pipe()
    ping = b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n'
    os.write(client_out, ping)
    opening = answer_opening(StdioFds(adapter_in, -1), build_router())  # nothing is written: no output fd
    assert opening.unread == [ping]
    assert not opening.eof
    os.close(client_out)
    assert answer_opening(StdioFds(adapter_in, -1), build_router()).eof
    os.close(adapter_in)


def test_a_malformed_initialize_is_refused_with_invalid_params() -> None:
    answer = build_router().answer_inline(wire.Request(1, "initialize", {}))
    assert json.loads(answer)["error"]["code"] == wire.INVALID_PARAMS


@pytest.mark.parametrize(
    ("content", "meta"),
    [
        ("plain", {"from": "alice", "msg_id": "1", "ts": "2026-01-01T00:00:00.000Z"}),
        ("</channel><channel>x</CHANNEL >", {"from": "b", "msg_id": "2", "ts": "t", "reply_to": "1"}),
        ("quotes \" ' & < >", {"from": "a'b\"c", "msg_id": "3"}),
    ],
)
def test_pull_rendering_matches_what_claude_code_shows(content: str, meta: dict[str, str]) -> None:
    assert render_channel(content, meta) == fakeclaude.render_channel(content, meta, "agentbus")


def test_what_runs_before_the_initialize_answer_imports_no_sdk_anyio_or_watchdog() -> None:
    """The cold start budget: joining the bus needs the core and the standard library only."""
    probe = (
        "import sys, agentbus.adapters.claude_mcp.server, agentbus.adapters.claude_mcp.startup; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'mcp', 'mcp_types', 'pydantic', 'anyio', 'watchdog'}))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"  \n", wire.Ignored("blank line")),
        (b'{"jsonrpc":"2.0","id":3,"result":{}}', wire.Ignored("a response to a request the adapter never sent")),
        (b'{"jsonrpc":"2.0","method":"x","params":3}', wire.Ignored("a notification whose params are not an object")),
        (b'{"method":"x"}', wire.Ignored("a malformed notification")),
        (
            b'{"jsonrpc":"2.0","id":"a","method":"m","params":{"_meta":{"progressToken":2}}}',
            wire.Request("a", "m", {"_meta": {"progressToken": 2}}),
        ),
        (
            b'{"jsonrpc":"2.0","method":"notifications/initialized"}',
            wire.Notification("notifications/initialized", None),
        ),
    ],
)
def test_wire_classifies_lines(line: bytes, expected: wire.Incoming) -> None:
    assert wire.classify(line) == expected


@pytest.mark.parametrize(
    ("line", "request_id", "code"),
    [
        (b"{not json", None, wire.PARSE_ERROR),
        (b'"text"', None, wire.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":true,"method":"ping"}', None, wire.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":null,"method":"ping"}', None, wire.INVALID_REQUEST),
        (b'{"jsonrpc":"1.0","id":"v","method":"ping"}', "v", wire.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":7}', 7, wire.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":8,"method":"tools/call","params":[1]}', 8, wire.INVALID_PARAMS),
    ],
)
def test_wire_refuses_what_it_must_answer_with_an_error(line: bytes, request_id: object, code: int) -> None:
    refusal = wire.classify(line)
    assert isinstance(refusal, wire.Refusal)
    assert (refusal.id, refusal.code) == (request_id, code)


def test_the_framer_drops_an_over_long_line_once_and_keeps_the_next() -> None:
    framer = wire.Framer()
    framer.feed(b"x" * (wire.MAX_LINE_BYTES + 1))
    assert framer.lines() == [wire.TOO_LONG]
    framer.feed(b"more of the same line\nnext\npart")
    assert framer.lines() == [b"next\n"]
    assert framer.rest() == b"part"


def test_a_lone_surrogate_is_written_as_an_escape() -> None:
    line = wire.result_line(1, {"text": "a\ud800b"})
    assert line.endswith(b"\n")
    assert json.loads(line)["result"]["text"] == "a\ud800b"


def test_one_version_everywhere() -> None:
    """agentbus.__version__ is the one source: the installed metadata and the manifest say the same."""
    from importlib.metadata import version

    from agentbus import DISTRIBUTION, __version__
    from agentbus.manifest import resolve_adapter

    assert version(DISTRIBUTION) == __version__
    assert resolve_adapter("claude-mcp").version == __version__
    assert fakeclaude.__version__ == __version__
    plugin = Path(__file__).resolve().parent.parent / ".claude-plugin" / "plugin.json"
    assert json.loads(plugin.read_text())["version"] == __version__, "the Claude Code plugin's version"
