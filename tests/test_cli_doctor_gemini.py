"""agentbus doctor's gemini lines: the binary and its version, the server and hooks in settings.json, the doors."""

import json
import os
import sys
from pathlib import Path

from typer.testing import CliRunner

from agentbus.cli import app
from agentbus.cli.doctor import Check, run_checks
from fakeclaude import Sandbox


def _gemini_lines(env: dict[str, str]) -> dict[str, Check]:
    return {c.id: c for c in run_checks(env, spawn=False) if c.id.startswith("gemini")}


def _fake_gemini(tmp_path: Path, version: str) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "gemini"
    fake.write_text(f"#!{sys.executable}\nprint('{version}')\n")
    fake.chmod(0o755)
    return f"{bin_dir}{os.pathsep}/usr/bin:/bin"


def test_without_gemini_doctor_says_so_once(isolated_env: dict[str, str]) -> None:
    lines = _gemini_lines({**isolated_env, "PATH": "/usr/bin:/bin"})
    assert list(lines) == ["gemini"], lines
    assert lines["gemini"].status == "info", lines


def test_version_registration_and_the_door_of_each_session(isolated_env: dict[str, str], tmp_path: Path) -> None:
    assert CliRunner().invoke(app, ["enable", "gemini"]).exit_code == 0
    env = {**isolated_env, "PATH": _fake_gemini(tmp_path, "0.61.0")}
    sandbox = Sandbox(tmp_path / "peers")
    on_this_bus = {key: value for key, value in isolated_env.items() if key.startswith("AGENTBUS_")}
    bus_home = Path(isolated_env["AGENTBUS_HOME"])
    try:
        sandbox.start_session("hooked", adapter="gemini", bus_home=bus_home, env=on_this_bus)
        sandbox.start_session("puller", adapter="gemini", bus_home=bus_home, env=on_this_bus, channels=False)
        lines = _gemini_lines(env)
    finally:
        sandbox.close_all()
    assert lines["gemini"].status == "pass", lines["gemini"]
    assert "0.61.0" in lines["gemini"].summary
    assert lines["gemini.registration"].status == "pass", lines["gemini.registration"]
    assert lines["gemini.session.hooked"].status == "pass", lines
    assert lines["gemini.session.puller"].status == "warn", lines
    assert "pull only" in lines["gemini.session.puller"].summary


def test_an_old_gemini_and_hooks_half_removed(isolated_env: dict[str, str], tmp_path: Path) -> None:
    assert CliRunner().invoke(app, ["enable", "gemini"]).exit_code == 0
    settings = Path(isolated_env["HOME"]) / ".gemini" / "settings.json"
    data = json.loads(settings.read_text())
    del data["hooks"]["AfterTool"]
    settings.write_text(json.dumps(data))
    lines = _gemini_lines({**isolated_env, "PATH": _fake_gemini(tmp_path, "0.50.2")})
    assert lines["gemini"].status == "fail"
    assert "older than 0.61.0" in lines["gemini"].summary
    assert lines["gemini.registration"].status == "warn"
    assert "agentbus enable gemini" in lines["gemini.registration"].hint
