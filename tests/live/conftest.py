"""Fixtures for the real-client tests: a pinned Claude Code per parameter, a fake model, a peer bus, live sessions.

Every test gets its own temp HOME for Claude Code, its own AGENTBUS_HOME (shared with the fakeclaude
peers of that test only) and its own FakeModel port, so the tests are xdist-safe. A version that is
not installed is installed with npm (``fakeclaude.live.install``); the tests skip, with npm's reason,
only when the registry cannot be reached. Figures a test records (``live_figure``) are listed at
the end of the run (when pytest is started on ``tests/live``) and kept as user properties.
"""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fakeclaude import Sandbox
from fakeclaude.live.driver import LiveSession
from fakeclaude.live.gemini_api import FakeGeminiApi
from fakeclaude.live.home import ClaudeHome
from fakeclaude.live.install import (
    CODEX,
    CODEX_VERSIONS,
    GEMINI,
    GEMINI_VERSIONS,
    PINNED_VERSIONS,
    ClaudeUnavailable,
    ensure_claude,
)
from fakeclaude.live.model import FakeModel, Rule, default_rules
from fakeclaude.live.responses import FakeResponses

LIVE_TIMEOUT = 180
#: An install inside a test must end (as a skip when npm's registry is out of reach) before its timeout.
INSTALL_TIMEOUT = 150
_installed: dict[str, Path | ClaudeUnavailable] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.live)
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(LIVE_TIMEOUT))


@pytest.fixture(params=PINNED_VERSIONS)
def claude_version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


#: The first Claude Code release that gives its servers a messaging socket (the native door).
NATIVE_DOOR_SINCE = (2, 1, 224)


def has_native_door(version: str) -> bool:
    """Whether this Claude Code release opens the native door (CLAUDE_CODE_MESSAGING_SOCKET) to its servers."""
    return tuple(int(part) for part in version.split(".")) >= NATIVE_DOOR_SINCE


@pytest.fixture
def native_door(claude_version: str) -> bool:
    return has_native_door(claude_version)


@pytest.fixture
def claude(claude_version: str) -> Path:
    """The binary of the pinned version (installed on first use; skip only if npm cannot reach its registry)."""
    found = _installed.get(claude_version)
    if found is None:
        try:
            found = ensure_claude(claude_version, timeout=INSTALL_TIMEOUT)
        except ClaudeUnavailable as exc:
            found = exc
        _installed[claude_version] = found
    if isinstance(found, ClaudeUnavailable):
        pytest.skip(str(found))
    return found


@pytest.fixture
def codex() -> Path:
    """The pinned Codex binary (installed on first use; skip only if npm cannot reach its registry)."""
    try:
        return ensure_claude(CODEX_VERSIONS[-1], timeout=INSTALL_TIMEOUT, tool=CODEX)
    except ClaudeUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def gemini() -> Path:
    """The pinned Gemini CLI binary (installed on first use; skip only if npm cannot reach its registry)."""
    try:
        return ensure_claude(GEMINI_VERSIONS[-1], timeout=INSTALL_TIMEOUT, tool=GEMINI)
    except ClaudeUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def gemini_api() -> Iterator[FakeGeminiApi]:
    """The loopback Gemini API the real Gemini CLI talks to."""
    with FakeGeminiApi() as api:
        yield api


@pytest.fixture
def responses() -> Iterator[FakeResponses]:
    """The loopback Responses API the real Codex talks to."""
    with FakeResponses() as model:
        yield model


@pytest.fixture
def model_rules() -> list[Rule]:
    """The fake model's rules (default: a ping gets send_message pong); a test may replace or extend them."""
    return default_rules()


@pytest.fixture
def model(model_rules: list[Rule]) -> Iterator[FakeModel]:
    with FakeModel(rules=model_rules) as fake:
        yield fake


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[Sandbox]:
    """fakeclaude sessions (real adapter processes) on this test's bus."""
    sandbox = Sandbox(tmp_path / "peers")
    try:
        yield sandbox
    finally:
        sandbox.close_all()


@pytest.fixture
def claude_home(tmp_path: Path, peers: Sandbox) -> ClaudeHome:
    """A scratch Claude Code home whose adapter uses the peers' bus."""
    return ClaudeHome.create(tmp_path / "claude", peers.bus_home)


@pytest.fixture
def live(claude: Path, claude_home: ClaudeHome, model: FakeModel) -> Iterator[Callable[..., LiveSession]]:
    """Factory: ``live("bob", channels=True, start=True, env=None)`` -> a LiveSession, killed at teardown if
    still there (``env``: more variables for Claude Code and so for the adapter it starts)."""
    sessions: list[LiveSession] = []

    def make(
        name: str = "bob", *, channels: bool = True, start: bool = True, env: dict[str, str] | None = None
    ) -> LiveSession:
        session = LiveSession(claude, claude_home, model, name, channels=channels, env=env)
        sessions.append(session)
        return session.start() if start else session

    try:
        yield make
    finally:
        for session in sessions:
            session.close()


@pytest.fixture
def live_figure(record_property: Callable[[str, object], None], claude_version: str) -> Callable[[str, object], None]:
    """Record a measured figure: printed now, kept as a user property, listed at the end of the run."""

    def record(name: str, value: object) -> None:
        print(f"[claude {claude_version}] {name}: {value}")
        record_property(f"live figure: {name}", value)

    return record


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            for key, value in getattr(report, "user_properties", []):
                if str(key).startswith("live figure: "):
                    lines.append(f"{report.nodeid}: {str(key)[len('live figure: ') :]} = {value}")
    if lines:
        terminalreporter.section("real Claude Code figures")
        for line in sorted(lines):
            terminalreporter.line(line)
