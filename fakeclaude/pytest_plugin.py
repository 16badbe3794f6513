"""pytest fixtures for fakeclaude: a temporary bus and a factory of fake Claude Code sessions."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fakeclaude.sandbox import Sandbox
from fakeclaude.session import Session


@pytest.fixture
def fakeclaude_adapter() -> str:
    """The adapter that fakeclaude fixtures launch (an entry-point name or a module.json path).

    Override this fixture in a conftest.py to run the same tests against another adapter.
    """
    return "claude-mcp"


@pytest.fixture
def fakeclaude_bus(tmp_path: Path, fakeclaude_adapter: str) -> Iterator[Sandbox]:
    """A Sandbox with its own AGENTBUS_HOME and HOME under tmp_path; every session ends at teardown."""
    sandbox = Sandbox(tmp_path / "fakeclaude", adapter=fakeclaude_adapter)
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
