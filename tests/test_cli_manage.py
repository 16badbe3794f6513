"""agentbus list / enable / disable / launch / uninstall, run as a real process with a temp HOME."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from agentbus.cli import app
from agentbus.core import Bus, Settings

ADAPTER_ARGS = ["-m", "agentbus.adapters.claude_mcp"]

EXISTING = """{
  "numStartups": 7,
  "theme": "dark",
  "mcpServers": {
    "github": {
      "type": "stdio",
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-github"],
      "env": {"GITHUB_TOKEN": "ghp_\\u0041bc"}
    }
  },
  "projects": {
    "/home/me/app": {"allowedTools": [], "mcpServers": {}, "lastCost": 0.10}
  }
}
"""


def agentbus(
    env: dict[str, str], *args: str, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentbus.cli", *args],
        env=env,
        cwd=cwd,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def cli(*args: str) -> Result:
    """The same command in this process (faster); the environment is the test's isolated one."""
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def env(isolated_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return isolated_env


def claude_json(env: dict[str, str]) -> Path:
    return Path(env["HOME"]) / ".claude.json"


def test_enable_disable_round_trip_keeps_the_file_byte_for_byte(env: dict[str, str], tmp_path: Path) -> None:
    path = claude_json(env)
    path.write_text(EXISTING)
    os.chmod(path, 0o600)

    enabled = agentbus(env, "enable", "claude-mcp", cwd=tmp_path)
    assert enabled.returncode == 0, enabled.stderr
    assert "registered MCP server 'agentbus'" in enabled.stdout
    data = json.loads(path.read_text())
    assert data["mcpServers"]["agentbus"] == {
        "type": "stdio",
        "command": sys.executable,
        "args": ADAPTER_ARGS,
        "env": {},
    }
    assert os.path.isabs(data["mcpServers"]["agentbus"]["command"])
    assert list(data["mcpServers"]) == ["github", "agentbus"]
    assert (path.parent / ".claude.json.agentbus-backup").read_text() == EXISTING

    again = cli("enable", "claude-mcp")
    assert again.exit_code == 0
    assert "already enabled" in again.stdout
    assert "nothing changed" in again.stdout

    listed = cli("list")
    assert listed.exit_code == 0
    row = next(line for line in listed.stdout.splitlines() if line.startswith("claude-mcp"))
    assert row.split()[-2:] == ["enabled", "-"]
    assert "─" not in listed.stdout  # plain text when piped

    disabled = agentbus(env, "disable", "claude-mcp", cwd=tmp_path)
    assert disabled.returncode == 0, disabled.stderr
    assert path.read_bytes() == EXISTING.encode()
    assert os.stat(path).st_mode & 0o777 == 0o600

    twice = cli("disable", "claude-mcp")
    assert twice.exit_code == 0
    assert "not enabled" in twice.stdout


def test_enable_honours_claude_config_dir(env: dict[str, str], tmp_path: Path) -> None:
    config_dir = tmp_path / "claude-config"
    env = {**env, "CLAUDE_CONFIG_DIR": str(config_dir)}
    result = agentbus(env, "enable", "claude-mcp", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "agentbus" in json.loads((config_dir / ".claude.json").read_text())["mcpServers"]
    assert not claude_json(env).exists()


def test_project_scope_writes_mcp_json_in_the_current_directory(env: dict[str, str]) -> None:
    project = Path.cwd()
    result = cli("enable", "claude-mcp", "--scope", "project")
    assert result.exit_code == 0, result.stderr
    data = json.loads((project / ".mcp.json").read_text())
    assert data["mcpServers"]["agentbus"]["args"] == ADAPTER_ARGS
    assert not claude_json(env).exists()
    listed = cli("list")
    assert listed.stdout.splitlines()[1].split()[-2:] == ["-", "enabled"]
    result = cli("disable", "claude-mcp", "--scope", "project")
    assert result.exit_code == 0
    assert not (project / ".mcp.json").exists()


def test_an_unparseable_config_is_refused_with_one_line(env: dict[str, str], tmp_path: Path) -> None:
    path = claude_json(env)
    path.write_text('{"mcpServers": {"github": ')
    result = agentbus(env, "enable", "claude-mcp", cwd=tmp_path)
    assert result.returncode == 1
    assert "not valid JSON" in result.stderr
    assert "refusing to change it" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    in_process = cli("disable", "claude-mcp")
    assert in_process.exit_code == 1
    assert "refusing to change it" in in_process.stderr
    assert path.read_text() == '{"mcpServers": {"github": '


def test_unknown_adapter_and_bad_scope_are_usage_errors(env: dict[str, str]) -> None:
    result = cli("enable", "nope")
    assert result.exit_code == 2
    assert "unknown adapter 'nope'" in result.stderr
    assert "claude-mcp" in result.stderr
    result = cli("enable", "claude-mcp", "--scope", "global")
    assert result.exit_code == 2
    assert "unknown scope" in result.stderr


def test_launch_print_shows_the_command(isolated_env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["launch", "claude-mcp", "frontend", "--print"])
    assert result.exit_code == 0
    assert result.stdout.strip() == "AGENTBUS_NAME=frontend claude"
    flagged = CliRunner().invoke(app, ["launch", "claude-mcp", "frontend", "--channels", "--print"])
    assert flagged.exit_code == 0
    assert flagged.stdout.strip() == (
        "AGENTBUS_NAME=frontend claude --dangerously-load-development-channels server:agentbus"
    )


def test_launch_refuses_a_bad_name_and_an_unregistered_adapter(isolated_env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["launch", "claude-mcp", "Front End"])
    assert result.exit_code == 2
    assert "invalid session name" in result.stderr
    result = CliRunner().invoke(app, ["launch", "claude-mcp", "frontend"])
    assert result.exit_code == 1
    assert "agentbus enable claude-mcp" in result.stderr


def test_launch_without_claude_on_path_says_so(env: dict[str, str], tmp_path: Path) -> None:
    assert cli("enable", "claude-mcp").exit_code == 0
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    result = agentbus({**env, "PATH": str(empty_bin)}, "launch", "claude-mcp", "frontend", cwd=tmp_path)
    assert result.returncode == 1
    assert "claude is not on PATH" in result.stderr
    assert "AGENTBUS_NAME=frontend claude" in result.stderr


def test_launch_execs_claude_with_the_name(env: dict[str, str], tmp_path: Path) -> None:
    assert cli("enable", "claude-mcp").exit_code == 0
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "claude"
    fake.write_text('#!/bin/sh\necho "name=$AGENTBUS_NAME args=$*"\n')
    fake.chmod(0o755)
    result = agentbus(
        {**env, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}"}, "launch", "claude-mcp", "backend", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "name=backend args="


def test_launch_with_an_approver_passes_it_on(env: dict[str, str], tmp_path: Path) -> None:
    assert cli("enable", "claude-mcp").exit_code == 0
    printed = CliRunner().invoke(app, ["launch", "claude-mcp", "worker", "--approver", "lead", "--print"])
    assert printed.exit_code == 0
    assert printed.stdout.strip() == (
        "AGENTBUS_NAME=worker AGENTBUS_APPROVER=lead claude --dangerously-load-development-channels server:agentbus"
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "claude"
    fake.write_text('#!/bin/sh\necho "name=$AGENTBUS_NAME approver=$AGENTBUS_APPROVER"\n')
    fake.chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{env['PATH']}"
    ran = agentbus({**env, "PATH": path}, "launch", "claude-mcp", "worker", "--approver", "lead", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "name=worker approver=lead"
    for bad, said in (("Lead Dev", "invalid approver"), ("worker", "cannot approve its own")):
        refused = CliRunner().invoke(app, ["launch", "claude-mcp", "worker", "--approver", bad, "--print"])
        assert refused.exit_code != 0, refused.stderr
        assert said in refused.stderr, refused.stderr


def test_uninstall_refuses_without_a_terminal_or_yes(env: dict[str, str], tmp_path: Path) -> None:
    assert cli("enable", "claude-mcp").exit_code == 0
    result = agentbus(env, "uninstall", cwd=tmp_path)
    assert result.returncode == 2
    assert "--yes" in result.stderr
    assert "agentbus" in json.loads(claude_json(env).read_text())["mcpServers"]


def test_uninstall_disables_everything_and_removes_the_bus(env: dict[str, str], tmp_path: Path) -> None:
    path = claude_json(env)
    path.write_text(EXISTING)
    project = Path.cwd()
    assert cli("enable", "claude-mcp").exit_code == 0
    assert cli("enable", "claude-mcp", "--scope", "project").exit_code == 0
    settings = Settings.from_env(env)
    with Bus(settings) as bus:
        bus.send("cli", "bob", "hello")
        bus.register("bob", session_id="s", adapter="claude-mcp", pid=os.getpid())
    (settings.wake_dir / "bob").touch()
    home = Path(env["AGENTBUS_HOME"])
    assert (home / "bus.db").exists()

    result = agentbus(env, "uninstall", "--yes", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "1 session(s) still running: bob" in result.stdout
    assert path.read_bytes() == EXISTING.encode()
    assert not (project / ".mcp.json").exists()
    assert not home.exists()


def test_uninstall_keeps_files_it_did_not_create(env: dict[str, str], tmp_path: Path) -> None:
    home = Path(env["AGENTBUS_HOME"])
    with Bus(Settings.from_env(env)):
        pass
    (home / "notes.txt").write_text("mine")
    result = cli("uninstall", "--yes")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in home.iterdir()) == ["notes.txt"]
    assert "notes.txt" in result.stdout


def test_version_and_plain_help(env: dict[str, str]) -> None:
    assert cli("--version").stdout.strip().startswith("agentbus ")
    result = agentbus(env, "--help")
    assert result.returncode == 0
    for verb in (
        "list",
        "enable",
        "disable",
        "launch",
        "doctor",
        "uninstall",
        "send",
        "peers",
        "inbox",
        "tail",
        "demo",
    ):
        assert verb in result.stdout
