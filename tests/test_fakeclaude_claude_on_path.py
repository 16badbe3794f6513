"""fakeclaude and the kit on a machine where a real ``claude`` is on PATH next to another Python's lib/.

``npm i -g @anthropic-ai/claude-code`` on Debian leaves ``/usr/bin/claude`` beside
``/usr/lib/python3.11``. A Python started as ``claude`` (the stand-in's argv[0]) used to look itself up
on PATH, take that directory's prefix and die loading the wrong standard library. Here a launcher
file plays ``/usr/bin/claude`` and an ``os.py`` landmark plays the system Python's lib directory.
"""

import os
import sys
from pathlib import Path

import pytest

from fakeclaude import Sandbox

pytest_plugins = ["pytester"]


@pytest.fixture
def claude_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    prefix = tmp_path / "usr"
    launcher = prefix / "bin" / "claude"
    launcher.parent.mkdir(parents=True)
    launcher.write_text("#!/bin/sh\necho 'the real claude must not run here' >&2\nexit 97\n")
    launcher.chmod(0o755)
    stdlib = prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    stdlib.mkdir(parents=True)
    (stdlib / "os.py").write_text("raise ImportError('the stand-in loaded the wrong standard library')\n")
    monkeypatch.setenv("PATH", f"{launcher.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    return launcher


def test_sessions_work_with_a_claude_launcher_on_path(claude_on_path: Path, tmp_path: Path) -> None:
    with Sandbox(tmp_path / "bus") as bus:
        alice, bob = bus.start_sessions("alice", "bob", timeout=20)
        assert not alice.call_tool("send_message", {"to": "bob", "text": "hello"}).is_error
        assert bob.wait_for_channel(timeout=10).content == "hello"
        assert "the real claude must not run here" not in alice.stderr + bob.stderr


def test_the_kit_certifies_with_a_claude_launcher_on_path(claude_on_path: Path, pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--agentbus-adapter=claude-mcp", "--agentbus-rules=ENV-*,DELIV-1,MCP-1"
    )
    outcomes = result.parseoutcomes()
    assert result.ret == 0, result.stdout.str()[-3000:]
    assert outcomes.get("passed", 0) >= 3, outcomes
    assert not outcomes.get("failed"), outcomes
    assert not outcomes.get("errors"), outcomes
