"""Shared fixtures: every test gets its own AGENTBUS_HOME and HOME, never the user's."""

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentbus.core import Bus, Settings

HELPERS = Path(__file__).with_name("helpers")


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An environment (also applied to this process) with a temp bus home and a temp HOME."""
    home = tmp_path / "home"
    home.mkdir()
    bus_home = tmp_path / "bus"
    values = {
        "HOME": str(home),
        "AGENTBUS_HOME": str(bus_home),
        "AGENTBUS_RATE_LIMIT_PER_MINUTE": "0",
    }
    for key in [k for k in os.environ if k.startswith("AGENTBUS_") or k == "CLAUDE_CONFIG_DIR"]:
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
