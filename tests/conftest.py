"""Shared fixtures: every test gets its own AGENTBUS_HOME and HOME, never the user's."""

import os
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url

from agentbus.core import Bus, Settings

HELPERS = Path(__file__).with_name("helpers")


# Set to an admin SQLAlchemy URL of a PostgreSQL server to run the core tests on PostgreSQL:
# every test then gets a database of its own, dropped afterwards.
PG_ADMIN_URL = os.environ.get("AGENTBUS_TEST_PG_URL", "")
ON_POSTGRES = bool(PG_ADMIN_URL)

sqlite_only = pytest.mark.skipif(ON_POSTGRES, reason="exercises the SQLite bus file itself")


@pytest.fixture
def database_url() -> Iterator[str | None]:
    """None for the default SQLite file; on PostgreSQL runs, a fresh database for this test."""
    if not ON_POSTGRES:
        yield None
        return
    import psycopg

    from agentbus.triggers.pg_notify import libpq_conninfo

    name = f"agentbus_test_{secrets.token_hex(6)}"
    with psycopg.connect(libpq_conninfo(PG_ADMIN_URL), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq_conninfo(PG_ADMIN_URL), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str | None) -> dict[str, str]:
    """An environment (also applied to this process) with a temp bus home and a temp HOME."""
    home = tmp_path / "home"
    home.mkdir()
    bus_home = tmp_path / "bus"
    values = {
        "HOME": str(home),
        "AGENTBUS_HOME": str(bus_home),
        "AGENTBUS_RATE_LIMIT_PER_MINUTE": "0",
    }
    if database_url:
        values["AGENTBUS_DB_URL"] = database_url
    for key in [k for k in os.environ if k.startswith("AGENTBUS_") or k in ("CLAUDE_CONFIG_DIR", "CODEX_HOME")]:
        monkeypatch.delenv(key)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return {**os.environ, **values}


@pytest.fixture
def settings(isolated_env: dict[str, str]) -> Settings:
    return Settings.from_env(isolated_env)


@pytest.fixture
def make_bus(isolated_env: dict[str, str]) -> Iterator[Callable[..., Bus]]:
    """Open buses on the test's home; overrides become Settings fields."""
    opened: list[Bus] = []

    def make(**overrides: object) -> Bus:
        bus = Bus.open(Settings.from_env(isolated_env, **overrides))
        opened.append(bus)
        return bus

    yield make
    for bus in opened:
        bus.close()


@pytest.fixture
def bus(make_bus: Callable[..., Bus]) -> Bus:
    return make_bus()


def helper_command(script: str, *args: str) -> list[str]:
    return [sys.executable, str(HELPERS / script), *args]
