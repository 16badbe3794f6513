"""agentbus doctor: every failure mode gives a failing line with a hint and a non-zero exit."""

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agentbus.cli import app
from agentbus.cli import claude_config as cc
from agentbus.core import Bus, Settings

FAKE_ADAPTERS = Path(__file__).with_name("fake_adapters")


@pytest.fixture
def env(isolated_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The SQLite bus file, also on AGENTBUS_TEST_PG_URL runs (test_cli_doctor_pg.py covers PostgreSQL)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("AGENTBUS_DB_URL", raising=False)
    return {k: v for k, v in isolated_env.items() if k != "AGENTBUS_DB_URL"}


def doctor(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    """Run ``agentbus doctor --json`` in this process; (exit code, report)."""
    result = CliRunner().invoke(app, ["doctor", "--json", *args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, json.loads(result.stdout)


def doctor_process(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    """Run ``agentbus doctor --json`` as a real process; (exit code, report)."""
    result = subprocess.run(
        [sys.executable, "-m", "agentbus.cli", "doctor", "--json", *args],
        env=env,
        cwd=Path.cwd(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["id"]: check for check in report["checks"]}


def failures(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in report["checks"] if c["status"] == "fail"}


def register(env: dict[str, str], command: list[str]) -> None:
    entry = {"type": "stdio", "command": command[0], "args": command[1:], "env": {}}
    cc.add_server(Path(env["HOME"]) / ".claude.json", "agentbus", entry)


def enable(env: dict[str, str]) -> None:
    register(env, [sys.executable, "-m", "agentbus.adapters.claude_mcp"])


def snapshot(directory: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(directory)): (p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else b"")
        for p in sorted(directory.rglob("*"))
    }


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_fresh_machine_is_not_registered_and_doctor_creates_no_bus(env: dict[str, str]) -> None:
    code, report = doctor_process(env, "--no-spawn")
    assert code == 1
    assert report["ok"] is False
    failed = failures(report)
    assert list(failed) == ["registration"]
    assert "agentbus enable claude-mcp" in failed["registration"]["hint"]
    assert by_id(report)["bus.location"]["status"] == "info"
    assert not Path(env["AGENTBUS_HOME"]).exists()
    assert not (Path(env["HOME"]) / ".claude.json").exists()


def test_a_healthy_install_passes_with_a_live_session(env: dict[str, str]) -> None:
    from fakeclaude import Session

    enable(env)
    with Session("claude-mcp", name="bob", bus_home=env["AGENTBUS_HOME"], home=env["HOME"]) as bob:
        with Bus(Settings.from_env(env)) as bus:
            bus.send("cli", "bob", "hello")
        bob.wait_for_channel(timeout=10)
        code, report = doctor_process(env)
    assert code == 0, failures(report)
    checks = by_id(report)
    assert checks["registration.user"]["status"] == "pass"
    assert checks["startup"]["status"] == "pass"
    assert checks["startup"]["details"]["opening"] == "discover-fallback"
    assert "send_message" in checks["startup"]["details"]["tools"]
    assert checks["bus.integrity"]["status"] == "pass"
    assert checks["bus.schema"]["status"] == "pass"
    assert "bob (push" in checks["bus.peers"]["summary"]
    assert checks["bus.mail"]["details"]["bob"]["delivered"] == 1
    assert checks["wake"]["status"] == "pass"


def test_human_output_is_one_line_per_check_with_hints(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["doctor", "--no-spawn"])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "agentbus doctor"
    assert any(line.startswith("FAIL  registration") for line in lines)
    assert any("hint: run: agentbus enable claude-mcp" in line for line in lines)
    assert lines[-1].startswith("broken: 1 failed")


def test_a_registered_command_that_does_not_exist_fails(env: dict[str, str]) -> None:
    register(env, ["/nonexistent/venv/bin/python", "-m", "agentbus.adapters.claude_mcp"])
    code, report = doctor(env)
    assert code == 1
    failed = failures(report)
    assert list(failed) == ["registration.user"]
    assert "/nonexistent/venv/bin/python does not exist" in failed["registration.user"]["summary"]
    assert "agentbus enable claude-mcp" in failed["registration.user"]["hint"]
    assert by_id(report)["startup"]["status"] == "info"


BROKEN_COMMANDS = {
    "exits_at_once": (
        [sys.executable, "-c", "import sys; sys.stderr.write('boom: no config\\n'); sys.exit(3)"],
        "fail",
    ),
    "no_channel_capability": ([sys.executable, str(FAKE_ADAPTERS / "no_capability" / "script.py")], "fail"),
    "answers_discover": ([sys.executable, str(FAKE_ADAPTERS / "discover_ok" / "script.py")], "fail"),
    "ignores_stdin_eof": ([sys.executable, str(FAKE_ADAPTERS / "no_exit" / "script.py")], "warn"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_COMMANDS))
def test_a_registered_command_that_does_not_work_is_reported(env: dict[str, str], case: str) -> None:
    command, status = BROKEN_COMMANDS[case]
    register(env, command)
    code, report = doctor(env)
    startup = by_id(report)["startup"]
    assert startup["status"] == status, startup
    assert startup["hint"]
    assert code == (1 if status == "fail" else 0)
    if case == "exits_at_once":
        assert "exited with code 3" in startup["summary"]
        assert "boom: no config" in startup["summary"]
    if case == "no_channel_capability":
        assert "claude/channel" in startup["summary"]
    if case == "answers_discover":
        assert "server/discover" in startup["summary"]


def test_a_corrupt_bus_fails_and_is_left_untouched(env: dict[str, str]) -> None:
    enable(env)
    home = Path(env["AGENTBUS_HOME"])
    home.mkdir(mode=0o700)
    (home / "bus.db").write_bytes(b"this is not a database " * 200)
    os.chmod(home / "bus.db", 0o600)
    before = snapshot(home)
    code, report = doctor(env, "--no-spawn")
    assert code == 1
    failed = failures(report)
    assert list(failed) == ["bus.integrity"]
    assert "not a database" in failed["bus.integrity"]["summary"]
    assert "mv " in failed["bus.integrity"]["hint"]
    assert snapshot(home) == before


def test_doctor_never_modifies_a_healthy_bus(env: dict[str, str]) -> None:
    enable(env)
    settings = Settings.from_env(env)
    with Bus(settings) as bus:
        bus.send("alice", "ghost", "are you there?")
        bus.register("ghost", session_id="s1", adapter="claude-mcp", pid=dead_pid(), can_push=True)
    os.chmod(settings.home, 0o755)
    before = snapshot(settings.home)
    code, report = doctor(env, "--no-spawn")
    assert snapshot(settings.home) == before
    assert by_id(report)["bus.permissions"]["status"] == "warn"
    assert code == 1  # the ghost below is stale


def test_an_unsupported_database_is_a_bad_setting_and_nothing_is_created(env: dict[str, str]) -> None:
    code, report = doctor({**env, "AGENTBUS_DB_URL": "mysql://me:hunter22@db/bus"}, "--no-spawn")
    assert code == 1
    settings = failures(report)["settings"]
    assert "names a 'mysql' database" in settings["summary"]
    assert "hunter22" not in json.dumps(report)
    assert not Path(env["AGENTBUS_HOME"]).exists()


def test_stale_peers_fail_with_the_reason(env: dict[str, str]) -> None:
    enable(env)
    settings = Settings.from_env(env)
    with Bus(settings) as bus:
        bus.register("ghost", session_id="s1", adapter="claude-mcp", pid=dead_pid())
        bus.register("silent", session_id="s2", adapter="claude-mcp", pid=os.getpid())
    with sqlite3.connect(settings.db_path) as conn:
        conn.execute("UPDATE peers SET last_seen = last_seen - 3600 WHERE name = 'silent'")
    code, report = doctor(env, "--no-spawn")
    assert code == 1
    stale = failures(report)["bus.stale_peers"]
    assert "ghost (pid" in stale["summary"]
    assert "is gone" in stale["summary"]
    assert "silent (silent for 36" in stale["summary"]
    assert "agentbus peers" in stale["hint"]
    assert sorted(stale["details"]["stale"]) == ["ghost", "silent"]


def test_old_pending_mail_for_a_live_push_peer_is_stuck(env: dict[str, str]) -> None:
    enable(env)
    settings = Settings.from_env(env)
    with Bus(settings) as bus:
        bus.register("bob", session_id="s1", adapter="claude-mcp", pid=os.getpid(), can_push=True)
        bus.send("alice", "bob", "did you get this?")
        bus.send("alice", "carol", "for later")
    (settings.wake_dir / "bob").touch()
    with sqlite3.connect(settings.db_path) as conn:
        conn.execute("UPDATE messages SET created_at = ?", (time.time() - 300,))
    code, report = doctor(env, "--no-spawn")
    assert code == 1
    failed = failures(report)
    assert list(failed) == ["mail.bob"]
    assert "1 pending for bob, oldest 5m" in failed["mail.bob"]["summary"]
    assert "restart that session" in failed["mail.bob"]["hint"]
    carol = by_id(report)["mail.carol"]
    assert carol["status"] == "info"
    assert "offline" in carol["summary"]


def test_pending_mail_for_offline_peers_is_only_info(env: dict[str, str]) -> None:
    enable(env)
    with Bus(Settings.from_env(env)) as bus:
        bus.send("alice", "carol", "for later")
    code, report = doctor(env, "--no-spawn", "--stuck-after", "0")
    assert code == 0, failures(report)
    assert by_id(report)["mail.carol"]["status"] == "info"


def test_a_live_peer_without_a_wake_file_is_a_warning(env: dict[str, str]) -> None:
    enable(env)
    with Bus(Settings.from_env(env)) as bus:
        bus.register("bob", session_id="s1", adapter="claude-mcp", pid=os.getpid(), can_push=True)
    code, report = doctor(env, "--no-spawn")
    assert code == 0, failures(report)
    wake = by_id(report)["wake"]
    assert wake["status"] == "warn"
    assert "bob" in wake["summary"]


def test_an_unknown_schema_revision_fails(env: dict[str, str]) -> None:
    enable(env)
    settings = Settings.from_env(env)
    with Bus(settings):
        pass
    with sqlite3.connect(settings.db_path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    code, report = doctor(env, "--no-spawn")
    assert code == 1
    assert "upgrade agentbus" in failures(report)["bus.schema"]["hint"]


def test_a_bad_setting_fails(env: dict[str, str]) -> None:
    enable(env)
    code, report = doctor({**env, "AGENTBUS_TRIGGER": "carrier-pigeon"}, "--no-spawn")
    assert code == 1
    assert "carrier-pigeon" in failures(report)["settings"]["summary"]


@pytest.mark.parametrize(
    ("reported", "status"),
    [("2.1.50 (Claude Code)", "fail"), ("2.1.197 (Claude Code)", "warn"), ("2.1.337 (Claude Code)", "pass")],
)
def test_the_claude_version_is_checked(env: dict[str, str], tmp_path: Path, reported: str, status: str) -> None:
    enable(env)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "claude"
    fake.write_text(f"#!/bin/sh\necho '{reported}'\n")
    fake.chmod(0o755)
    code, report = doctor({**env, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}"}, "--no-spawn")
    claude = by_id(report)["claude"]
    assert claude["status"] == status
    assert claude["details"]["path"] == str(fake)
    assert code == (1 if status == "fail" else 0)
    if status == "fail":
        assert "needs >= 2.1.80" in claude["summary"]
        assert "claude update" in claude["hint"]
    if status == "warn":
        assert "--channels" in claude["summary"]
        assert ">= 2.1.224" in claude["hint"]


def test_an_unreadable_claude_json_fails_once(env: dict[str, str]) -> None:
    (Path(env["HOME"]) / ".claude.json").write_text("{not json")
    code, report = doctor(env, "--no-spawn")
    assert code == 1
    failed = failures(report)
    assert list(failed) == ["registration.user"]
    assert "not valid JSON" in failed["registration.user"]["summary"]


def test_a_database_url_password_is_never_printed(env: dict[str, str]) -> None:
    url = "postgresql+psycopg://agent:s3cret@127.0.0.1:1/agentbus"
    code, report = doctor({**env, "AGENTBUS_DB_URL": url}, "--no-spawn")
    assert code == 1
    assert "s3cret" not in json.dumps(report)
    assert "agent:***@127.0.0.1" in by_id(report)["bus.location"]["summary"]
    sent = CliRunner().invoke(app, ["send", "bob", "hi"], env={"AGENTBUS_DB_URL": url})
    assert sent.exit_code == 1
    assert "s3cret" not in sent.stderr
