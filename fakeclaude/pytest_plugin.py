"""pytest fixtures for fakeclaude: a temporary bus and a factory of fake Claude Code sessions.

One option, ``--fakeclaude-client=PROFILE`` (ini ``fakeclaude_client``, env ``FAKECLAUDE_CLIENT``;
command line over env over ini): the recorded client every session speaks as, default the newest.
Nothing else changes a run that does not use these fixtures.
"""

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fakeclaude import profiles
from fakeclaude.sandbox import Sandbox
from fakeclaude.session import Session


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fakeclaude", "fakeclaude (a fake Claude Code client)")
    group.addoption(
        "--fakeclaude-client",
        dest="fakeclaude_client",
        metavar="PROFILE",
        help=f"client profile sessions speak as ({', '.join(profiles.available())}; default {profiles.DEFAULT}; "
        "ini fakeclaude_client, env FAKECLAUDE_CLIENT)",
    )
    parser.addini("fakeclaude_client", "client profile fakeclaude sessions speak as", default="")


CLIENT_KEY = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    """Resolve the client profile once (command line, then env, then ini); an unknown one is a usage error."""
    chosen = (
        config.getoption("fakeclaude_client", default=None)
        or os.environ.get("FAKECLAUDE_CLIENT")
        or config.getini("fakeclaude_client")
        or None
    )
    try:
        config.stash[CLIENT_KEY] = profiles.load(chosen).id
    except profiles.UnknownProfile as exc:
        raise pytest.UsageError(f"--fakeclaude-client: {exc}") from None


@pytest.fixture(scope="session")
def fakeclaude_client(pytestconfig: pytest.Config) -> str:
    """The client profile id the fixtures' sessions speak as (override in a conftest.py, or set the option)."""
    return pytestconfig.stash.get(CLIENT_KEY, profiles.DEFAULT)


@pytest.fixture
def fakeclaude_adapter() -> str:
    """The adapter that fakeclaude fixtures launch (an entry-point name or a module.json path).

    Override this fixture in a conftest.py to run the same tests against another adapter.
    """
    return "claude-mcp"


@pytest.fixture
def fakeclaude_bus(tmp_path: Path, fakeclaude_adapter: str, fakeclaude_client: str) -> Iterator[Sandbox]:
    """A Sandbox with its own AGENTBUS_HOME and HOME under tmp_path; every session ends at teardown."""
    sandbox = Sandbox(tmp_path / "fakeclaude", adapter=fakeclaude_adapter, client=fakeclaude_client)
    try:
        yield sandbox
    finally:
        sandbox.close_all()


@pytest.fixture
def fakeclaude_session(fakeclaude_bus: Sandbox) -> Callable[..., Session]:
    """Factory ``fakeclaude_session(name, adapter=None, **kw) -> Session``: started, on one temp bus."""

    def start(name: str | None, adapter: Any = None, **kwargs: Any) -> Session:
        return fakeclaude_bus.start_session(name, adapter, **kwargs)

    return start
