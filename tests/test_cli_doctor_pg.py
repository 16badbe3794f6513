"""agentbus doctor on a PostgreSQL bus: backend, server, schema, privileges, peers, mail, wake-ups; never a password.

Skipped unless AGENTBUS_TEST_PG_URL names an admin URL of a PostgreSQL server; each test then gets a
database of its own (the ``database_url`` fixture of conftest.py), dropped afterwards.
"""

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url
from typer.testing import CliRunner

from agentbus.cli import app
from agentbus.cli import claude_config as cc
from agentbus.core import Bus, Settings
from agentbus.core.revisions import SCHEMA_HEAD

PG_ADMIN_URL = os.environ.get("AGENTBUS_TEST_PG_URL", "")
pytestmark = pytest.mark.skipif(not PG_ADMIN_URL, reason="set AGENTBUS_TEST_PG_URL to a PostgreSQL admin URL")


@pytest.fixture
def env(isolated_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The test's environment: AGENTBUS_DB_URL is a fresh, empty database on the test server."""
    assert isolated_env.get("AGENTBUS_DB_URL", "").startswith("postgresql"), "conftest gave no PostgreSQL database"
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return isolated_env


def conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def sql(url: str, *statements: str) -> list[Any]:
    """Run statements on ``url`` in autocommit mode; the rows of the last one (if it returns any)."""
    import psycopg

    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        rows: list[Any] = []
        for statement in statements:
            cursor = conn.execute(statement)
            rows = cursor.fetchall() if cursor.description else []
        return rows


def doctor(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    """``agentbus doctor --json`` in this process; (exit code, report)."""
    result = CliRunner().invoke(app, ["doctor", "--json", *args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, json.loads(result.stdout)


def by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["id"]: check for check in report["checks"]}


def failures(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in report["checks"] if c["status"] == "fail"}


def enable(env: dict[str, str], entry_env: dict[str, str] | None = None) -> None:
    command = [sys.executable, "-m", "agentbus.adapters.claude_mcp"]
    entry = {"type": "stdio", "command": command[0], "args": command[1:], "env": entry_env or {}}
    cc.add_server(Path(env["HOME"]) / ".claude.json", "agentbus", entry)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def tables(url: str) -> set[str]:
    rows = sql(url, "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
    return {str(r[0]) for r in rows}


@pytest.fixture
def stranger(env: dict[str, str]) -> Iterator[str]:
    """The test database's URL as a new role with no privileges on it (and a password, never printed)."""
    role = f"agentbus_doctor_{secrets.token_hex(4)}"
    password = f"pw-{secrets.token_hex(8)}"
    sql(PG_ADMIN_URL, f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        yield (
            make_url(env["AGENTBUS_DB_URL"]).set(username=role, password=password).render_as_string(hide_password=False)
        )
    finally:
        sql(PG_ADMIN_URL, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
        sql(env["AGENTBUS_DB_URL"], f"DROP OWNED BY {role}")
        sql(PG_ADMIN_URL, f"DROP ROLE {role}")


def test_an_empty_database_is_reported_and_left_empty(env: dict[str, str]) -> None:
    enable(env)
    code, report = doctor(env, "--no-spawn")
    assert code == 0, failures(report)
    checks = by_id(report)
    location = checks["bus.location"]
    assert location["status"] == "info"
    assert location["summary"].startswith("PostgreSQL bus at postgresql+psycopg://")
    assert location["details"]["backend"] == "postgresql"
    server = checks["bus.server"]
    assert server["status"] == "pass"
    assert server["summary"].startswith("PostgreSQL ")
    assert server["details"]["database"] == make_url(env["AGENTBUS_DB_URL"]).database
    assert checks["bus.schema"]["status"] == "info"
    assert "never set up" in checks["bus.schema"]["summary"]
    assert checks["bus.privileges"]["status"] == "pass"
    assert "may create the bus tables" in checks["bus.privileges"]["summary"]
    assert not {"bus.integrity", "bus.permissions", "bus.peers"} & set(checks), (
        "file or peer checks on an empty database"
    )
    assert tables(env["AGENTBUS_DB_URL"]) == set(), "doctor set up the bus"
    assert not Path(env["AGENTBUS_HOME"]).exists(), "doctor created a bus directory for a PostgreSQL bus"


def test_a_healthy_bus_with_a_live_session(env: dict[str, str]) -> None:
    from fakeclaude import Session

    enable(env)
    url = env["AGENTBUS_DB_URL"]
    session_env = {"AGENTBUS_DB_URL": url}
    with Session("claude-mcp", name="bob", bus_home=env["AGENTBUS_HOME"], home=env["HOME"], env=session_env) as bob:
        with Bus(Settings.from_env(env)) as bus:
            bus.send("cli", "bob", "hello")
        bob.wait_for_channel(timeout=10)
        result = subprocess.run(
            [sys.executable, "-m", "agentbus.cli", "doctor", "--json"],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        peers_during = {str(r[0]) for r in sql(url, "SELECT name FROM peers")}
    assert "Traceback" not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    assert result.returncode == 0, failures(report)
    checks = by_id(report)
    assert checks["startup"]["status"] == "pass"
    assert checks["bus.server"]["status"] == "pass"
    assert checks["bus.schema"]["summary"] == f"schema {SCHEMA_HEAD} (current)"
    assert checks["bus.privileges"]["status"] == "pass"
    assert "bob (push" in checks["bus.peers"]["summary"]
    assert checks["bus.mail"]["details"]["bob"]["delivered"] == 1
    wake = checks["wake"]
    assert wake["status"] == "pass"
    assert "pg-notify" in wake["summary"]
    assert "1 live peer" in wake["summary"]
    assert peers_during == {"bob"}, f"the startup probe registered on the real bus: {peers_during}"


def test_stale_peers_stuck_mail_and_peers_of_other_hosts(env: dict[str, str]) -> None:
    enable(env)
    url = env["AGENTBUS_DB_URL"]
    with Bus(Settings.from_env(env)) as bus:
        bus.register("ghost", session_id="s1", adapter="claude-mcp", pid=dead_pid(), can_push=True)
        bus.register("remote", session_id="s2", adapter="claude-mcp", pid=dead_pid(), host="elsewhere", can_push=True)
        bus.register("bob", session_id="s3", adapter="claude-mcp", pid=os.getpid(), can_push=True)
        bus.send("alice", "bob", "did you get this?")
    sql(url, f"UPDATE messages SET created_at = {time.time() - 300}")
    before = sql(url, "SELECT name, last_seen FROM peers ORDER BY name")
    code, report = doctor(env, "--no-spawn")
    assert code == 1
    failed = failures(report)
    assert set(failed) == {"bus.stale_peers", "mail.bob"}, failed
    assert "ghost (pid" in failed["bus.stale_peers"]["summary"]
    assert "is gone" in failed["bus.stale_peers"]["summary"]
    assert failed["bus.stale_peers"]["details"]["stale"] == ["ghost"]
    assert "remote (push, pid" in by_id(report)["bus.peers"]["summary"]
    assert "on elsewhere" in by_id(report)["bus.peers"]["summary"]
    assert "1 pending for bob, oldest 5m" in failed["mail.bob"]["summary"]
    wake = by_id(report)["wake"]
    assert wake["status"] == "warn"
    assert "bob" in wake["summary"]
    assert "remote" in wake["summary"]
    assert sql(url, "SELECT name, last_seen FROM peers ORDER BY name") == before, "doctor changed the peers table"


def test_an_unknown_schema_revision_fails(env: dict[str, str]) -> None:
    enable(env)
    with Bus(Settings.from_env(env)):
        pass
    sql(env["AGENTBUS_DB_URL"], "UPDATE alembic_version SET version_num = '9999'")
    code, report = doctor(env, "--no-spawn")
    assert code == 1
    assert list(failures(report)) == ["bus.schema"]
    assert "upgrade agentbus" in failures(report)["bus.schema"]["hint"]


def test_a_database_of_something_else_fails(env: dict[str, str]) -> None:
    enable(env)
    sql(env["AGENTBUS_DB_URL"], "CREATE TABLE invoices (id integer)")
    code, report = doctor(env, "--no-spawn")
    assert code == 1
    schema = failures(report)["bus.schema"]
    assert "not an agentbus bus" in schema["summary"]
    assert "database of its own" in schema["hint"]


def test_a_missing_database_fails_with_createdb(env: dict[str, str]) -> None:
    enable(env)
    url = make_url(env["AGENTBUS_DB_URL"])
    missing = url.set(database=f"{url.database}_missing").render_as_string(hide_password=False)
    code, report = doctor({**env, "AGENTBUS_DB_URL": missing}, "--no-spawn")
    assert code == 1
    assert list(failures(report)) == ["bus.server"]
    server = failures(report)["bus.server"]
    assert "does not exist" in server["summary"]
    assert server["hint"].startswith("create it: createdb ")
    assert not {"bus.schema", "bus.peers", "wake"} & set(by_id(report))


def test_a_role_without_privileges_fails_and_its_password_is_never_printed(env: dict[str, str], stranger: str) -> None:
    enable(env)
    password = str(make_url(stranger).password)
    role = str(make_url(stranger).username)
    code, report = doctor({**env, "AGENTBUS_DB_URL": stranger}, "--no-spawn")
    assert code == 1
    failed = failures(report)
    assert list(failed) == ["bus.privileges"], failed
    assert f"{role} may not create tables in schema public" in failed["bus.privileges"]["summary"]
    assert f"GRANT CREATE ON SCHEMA public TO {role}" in failed["bus.privileges"]["hint"]
    with Bus(Settings.from_env(env)):  # the owner sets the bus up; the stranger still may not use it
        pass
    code, report = doctor({**env, "AGENTBUS_DB_URL": stranger}, "--no-spawn")
    failed = failures(report)
    assert list(failed) == ["bus.privileges"], failed
    assert (
        "lacks SELECT on alembic_version; SELECT, INSERT, UPDATE, DELETE on peers; "
        in failed["bus.privileges"]["summary"]
    )
    assert not {"bus.peers", "wake"} & set(by_id(report)), "peers read without SELECT on them"
    assert "GRANT SELECT, INSERT, UPDATE, DELETE ON peers, messages" in failed["bus.privileges"]["hint"]
    assert "USAGE on sequence" in failed["bus.privileges"]["summary"]
    human = CliRunner().invoke(app, ["doctor", "--no-spawn"], env={**env, "AGENTBUS_DB_URL": stranger})
    for text in (json.dumps(report), human.stdout):
        assert password not in text
    assert f"{role}:***@" in human.stdout


def test_an_unreachable_server_fails_with_a_hint_and_no_password(env: dict[str, str]) -> None:
    enable(env)
    url = "postgresql+psycopg://agent:s3cret@127.0.0.1:1/agentbus"
    code, report = doctor({**env, "AGENTBUS_DB_URL": url}, "--no-spawn")
    assert code == 1
    assert list(failures(report)) == ["bus.server"]
    server = failures(report)["bus.server"]
    assert (
        "cannot connect to the PostgreSQL bus at postgresql+psycopg://agent:***@127.0.0.1:1/agentbus"
        in server["summary"]
    )
    assert "psql 'postgresql://agent@127.0.0.1:1/agentbus'" in server["hint"]
    assert "s3cret" not in json.dumps(report)


def test_a_registration_pointing_at_another_bus_is_a_warning(env: dict[str, str]) -> None:
    other = "postgresql+psycopg://agent:s3cret@db.example:5432/team"
    enable(env, {"AGENTBUS_DB_URL": other})
    code, report = doctor(env, "--no-spawn")
    assert code == 0, failures(report)
    registered = by_id(report)["bus.registered"]
    assert registered["status"] == "warn"
    assert "agent:***@db.example:5432/team" in registered["summary"]
    assert "s3cret" not in json.dumps(report)
