"""The live harness itself: installing pinned versions (and telling "unreachable" from "broken"), the MCP log parser."""

import os
import shutil
from pathlib import Path

import pytest

from fakeclaude.live.install import ClaudeInstallError, ClaudeUnavailable, ensure_claude
from fakeclaude.live.mcplog import (
    ChannelNotification,
    ChannelsRegistered,
    Connected,
    LogEntry,
    ShutdownStep,
    ToolCalling,
    ToolCompleted,
    parse_entry,
)

needs_npm = pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not on PATH")


@needs_npm
def test_an_unreachable_registry_is_reported_as_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:9/")  # nothing listens on the discard port
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "npm-cache"))  # nor may a cached copy answer
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    with pytest.raises(ClaudeUnavailable, match="unavailable: the npm registry cannot be reached"):
        ensure_claude("2.1.197", root=tmp_path / "claude-code", timeout=120)
    assert not (tmp_path / "claude-code" / "2.1.197").exists(), "a failed install must leave nothing behind"


def test_a_binary_of_the_wrong_version_is_a_failure_not_a_skip(tmp_path: Path, claude: Path) -> None:
    fake = tmp_path / "claude-code" / "9.9.9" / "node_modules" / ".bin"
    fake.mkdir(parents=True)
    os.symlink(claude.resolve(), fake / "claude")
    with pytest.raises(ClaudeInstallError) as raised:
        ensure_claude("9.9.9", root=tmp_path / "claude-code")
    assert not isinstance(raised.value, ClaudeUnavailable)
    assert "not 9.9.9" in str(raised.value)


def test_an_installed_version_is_found(claude: Path, claude_version: str) -> None:
    assert ensure_claude(claude_version) == claude
    assert os.access(claude, os.X_OK)


def _line(text: str, level: str = "debug") -> LogEntry:
    return parse_entry({level: text, "timestamp": "2026-12-02T03:17:50.829Z", "sessionId": "s1", "cwd": "/p"})


def test_mcp_log_lines_become_typed_entries() -> None:
    connected = _line("Successfully connected (transport: stdio) in 944ms")
    assert isinstance(connected, Connected)
    assert connected.ms == 944
    assert connected.session_id == "s1"
    assert isinstance(_line("Channel notifications registered"), ChannelsRegistered)
    assert isinstance(_line("notifications/claude/channel: ping"), ChannelNotification)  # 2.1.197
    assert isinstance(_line("notifications/claude/channel (4 chars)"), ChannelNotification)  # 2.1.331
    calling = _line("Calling MCP tool: send_message")
    assert isinstance(calling, ToolCalling)
    assert calling.tool == "send_message"
    times = {text: _line(f"Tool 'whoami' completed successfully in {text}") for text in ("67ms", "1s", "2m 3s")}
    assert [entry.ms for entry in times.values() if isinstance(entry, ToolCompleted)] == [67, 1000, 123_000]
    first = _line("Sending SIGINT to MCP server process")
    assert isinstance(first, ShutdownStep)
    assert (first.signal, first.escalated) == ("SIGINT", False)
    term = _line("SIGINT failed, sending SIGTERM to MCP server process")
    kill = _line("SIGTERM failed, sending SIGKILL to MCP server process")
    assert isinstance(term, ShutdownStep)
    assert (term.signal, term.escalated) == ("SIGTERM", True)
    assert isinstance(kill, ShutdownStep)
    assert (kill.signal, kill.escalated) == ("SIGKILL", True)
    assert _line("boom", level="error").level == "error"
    assert connected.epoch == pytest.approx(1796181470.829)
