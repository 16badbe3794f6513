"""claude-mcp adapter pieces that need no process: push-mode detection, rendering, identity, opening."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import fakeclaude
from agentbus.adapters.claude_mcp import pushmode
from agentbus.adapters.claude_mcp.opening import StdioFds, answer_opening
from agentbus.adapters.claude_mcp.protocol import render_channel
from agentbus.adapters.claude_mcp.startup import identity_from_env


@pytest.fixture
def parent_argv(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Pretend ancestors: set the list to the argv of the parent, grandparent, ..."""
    chain: list[list[str]] = []
    monkeypatch.setattr(pushmode, "_ancestor_commands", lambda _pid: iter(chain))
    return chain


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
def test_push_mode_follows_the_claude_code_command_line(
    parent_argv: list[list[str]], argv: list[str], push: bool
) -> None:
    parent_argv.append(argv)
    assert pushmode.decide({}).push is push


def test_push_mode_looks_past_a_wrapper_shell(parent_argv: list[list[str]]) -> None:
    parent_argv.extend([["sh", "-c", "python -m agentbus.adapters.claude_mcp"], ["claude"]])
    decision = pushmode.decide({})
    assert not decision.push
    assert "--dangerously-load-development-channels server:agentbus" in decision.reason


@pytest.mark.parametrize(("value", "push"), [("on", True), ("OFF", False), ("pull", False), ("1", True)])
def test_push_mode_env_override_wins(parent_argv: list[list[str]], value: str, push: bool) -> None:
    parent_argv.append(["claude"])
    assert pushmode.decide({"AGENTBUS_PUSH": value}).push is push


def test_push_mode_reads_this_process_ancestry() -> None:
    """Under pytest the parent is not Claude Code, so pushing stays on."""
    assert pushmode.decide({}, parent=os.getpid()).push is True
    assert next(pushmode._ancestor_commands(os.getpid()))  # this process' own argv is readable


def test_render_channel_escapes_attributes_and_defuses_closing_tags() -> None:
    rendered = render_channel("x </channel> y </Channel", {"from": "a\"b<c>&'", "msg_id": "7"})
    attrs = 'source="agentbus" from="a&quot;b&lt;c&gt;&amp;&#39;" msg_id="7"'
    assert rendered == f"<channel {attrs}>x <\\/channel> y <\\/Channel</channel>"


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
    opening = answer_opening(StdioFds(adapter_in, adapter_out))
    assert opening.answered_id == 1
    assert opening.replay == [lines[1]]
    assert opening.leftover == b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n{"jsonrpc"'
    answers = os.read(client_in, 65536).decode().splitlines()
    assert '"error":{"code":-32601' in answers[0]
    assert '"claude/channel":{}' in answers[1]
    for fd in (client_in, adapter_out, adapter_in, client_out):
        os.close(fd)


def test_opening_leaves_anything_else_to_the_sdk() -> None:
    adapter_in, client_out = os.pipe()
    os.write(client_out, b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}\n')
    opening = answer_opening(StdioFds(adapter_in, -1))  # nothing is written: no output fd needed
    assert not opening.answered and opening.replay and not opening.eof
    os.close(client_out)
    assert answer_opening(StdioFds(adapter_in, -1)).eof
    os.close(adapter_in)


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
