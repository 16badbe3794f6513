"""agentbus doctor's codex lines: the binary and its version, the config.toml table, the sessions' app-servers."""

import os
import socket
import sys
from pathlib import Path

from typer.testing import CliRunner

from agentbus.cli import app
from agentbus.cli.doctor import Check, run_checks


def _codex_lines(env: dict[str, str]) -> dict[str, Check]:
    return {c.id: c for c in run_checks(env, spawn=False) if c.id.startswith("codex")}


def _fake_codex(tmp_path: Path, version: str) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "codex"
    fake.write_text(f"#!{sys.executable}\nprint('codex-cli {version}')\n")
    fake.chmod(0o755)
    return bin_dir


def test_without_codex_doctor_says_so_once(isolated_env: dict[str, str]) -> None:
    env = {**isolated_env, "PATH": "/usr/bin:/bin"}
    lines = _codex_lines(env)
    assert list(lines) == ["codex"], lines
    assert lines["codex"].status == "info", lines


def test_version_registration_and_a_dead_app_server(isolated_env: dict[str, str], tmp_path: Path) -> None:
    assert CliRunner().invoke(app, ["enable", "codex"]).exit_code == 0
    env = {**isolated_env, "PATH": f"{_fake_codex(tmp_path, '0.170.1')}{os.pathsep}/usr/bin:/bin"}
    sockets = Path(isolated_env["AGENTBUS_HOME"]) / "codex"
    sockets.mkdir(parents=True)
    left = sockets / "gone.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(left))
    listener.close()  # a socket file nobody listens on: a session that was killed
    lines = _codex_lines(env)
    assert lines["codex"].status == "pass"
    assert "0.170.1" in lines["codex"].summary
    assert lines["codex.registration"].status == "pass"
    dead = lines["codex.app-server.gone"]
    assert dead.status == "fail"
    assert "does not answer" in dead.summary
    assert "remove the file" in dead.hint


def test_an_old_codex_and_a_table_that_forwards_nothing(isolated_env: dict[str, str], tmp_path: Path) -> None:
    config = Path(isolated_env["HOME"]) / ".codex" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[mcp_servers.agentbus]\ncommand = "python3"\nargs = ["-m", "agentbus.adapters.codex"]\n')
    env = {**isolated_env, "PATH": f"{_fake_codex(tmp_path, '0.100.0')}{os.pathsep}/usr/bin:/bin"}
    lines = _codex_lines(env)
    assert lines["codex"].status == "fail"
    assert "older than 0.169.0" in lines["codex"].summary
    registration = lines["codex.registration"]
    assert registration.status == "fail"
    assert "AGENTBUS_NAME" in registration.summary
