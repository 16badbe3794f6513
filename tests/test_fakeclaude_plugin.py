"""The fakeclaude pytest plugin works in any test tree, cleans up every process, and adds one option."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

FAKES = Path(__file__).with_name("fake_adapters")

CONFTEST = """
import pytest

@pytest.fixture
def fakeclaude_adapter():
    return {good!r}
"""

TESTS = """
import os
from pathlib import Path


def test_sessions_share_one_temp_bus(fakeclaude_session, fakeclaude_bus, tmp_path):
    fakeclaude_bus.close_timeout = 0.5
    alice = fakeclaude_session("alice", opening="initialize")
    stubborn = fakeclaude_session("bob", {no_exit!r}, opening="discover")
    assert alice.opening_used == "initialize" and stubborn.opening_used == "discover-fallback"
    Path(os.environ["FAKECLAUDE_PIDFILE"]).write_text(f"{{alice.pid}} {{stubborn.pid}}")
    seen = alice.call_tool("getenv", {{"names": ["AGENTBUS_HOME", "HOME", "AGENTBUS_NAME"]}}).json()
    assert seen == {{
        "AGENTBUS_HOME": str(fakeclaude_bus.bus_home),
        "HOME": str(fakeclaude_bus.home),
        "AGENTBUS_NAME": "alice",
    }}
    assert fakeclaude_bus.bus_home.is_relative_to(tmp_path)
    alice.wait_channel_ready()
    alice.call_tool("send_message", {{"to": "alice", "text": "loop"}})
    alice.assert_channel("loop", from_="alice")


def test_unused_plugin_is_harmless():
    assert True
"""


def run_pytest(path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "AGENTBUS_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-W", "error", "--strict-markers", *args],
        cwd=path,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_fixtures_work_from_another_test_tree_and_kill_leftovers(tmp_path: Path) -> None:
    tree = tmp_path / "elsewhere"
    tree.mkdir()
    good, no_exit = str(FAKES / "good" / "module.json"), str(FAKES / "no_exit" / "module.json")
    (tree / "conftest.py").write_text(textwrap.dedent(CONFTEST.format(good=good)))
    (tree / "test_uses_fakeclaude.py").write_text(textwrap.dedent(TESTS.format(no_exit=no_exit)))
    pidfile = tmp_path / "pids"
    done = run_pytest(tree, "-q", FAKECLAUDE_PIDFILE=str(pidfile))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    for pid in map(int, pidfile.read_text().split()):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"adapter pid {pid} survived the test's teardown")


def test_plugin_documents_its_fixtures_and_registers_one_option(tmp_path: Path) -> None:
    fixtures = run_pytest(tmp_path, "--fixtures")
    assert fixtures.returncode in (0, 5), fixtures.stdout + fixtures.stderr
    for name in ("fakeclaude_bus", "fakeclaude_session", "fakeclaude_adapter", "fakeclaude_client"):
        assert name in fixtures.stdout
    helptext = run_pytest(tmp_path, "--help").stdout
    options = sorted(set(re.findall(r"--fakeclaude[\w-]*", helptext)))
    assert options == ["--fakeclaude-client"], options


def test_the_client_option_picks_the_profile_and_refuses_unknown_ones(tmp_path: Path) -> None:
    (tmp_path / "test_client.py").write_text(
        "def test_client(fakeclaude_client):\n    assert fakeclaude_client == 'claude-code@2.1.197'\n"
    )
    assert run_pytest(tmp_path, "--fakeclaude-client=claude-code@2.1.197").returncode == 0
    refused = run_pytest(tmp_path, "--fakeclaude-client=claude-code@9")
    assert refused.returncode == 4
    assert "no client profile" in refused.stderr
