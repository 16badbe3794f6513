"""``pipx install .`` gives working ``agentbus`` and ``fakeclaude`` commands, and what ``agentbus enable``
registers runs from the tool's own virtualenv (doctor starts it)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentbus import __version__

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(300)
def test_pipx_install_gives_commands_whose_registration_works(tmp_path: Path) -> None:
    pytest.importorskip("pipx", reason="pipx is not installed (it comes with the test extra)")
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",  # no project virtualenv, no claude: only what pipx put in place
        "HOME": str(home),
        "PIPX_HOME": str(tmp_path / "pipx"),
        "PIPX_BIN_DIR": str(tmp_path / "bin"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    for key in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS"):
        if key in os.environ:
            env[key] = os.environ[key]
    installed = subprocess.run(
        [sys.executable, "-m", "pipx", "install", str(ROOT)], env=env, capture_output=True, text=True, timeout=280
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    agentbus, fakeclaude = tmp_path / "bin" / "agentbus", tmp_path / "bin" / "fakeclaude"

    def run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(a) for a in argv], env=env, capture_output=True, text=True, timeout=60)
        assert "Traceback" not in done.stderr, done.stderr
        return done

    assert run(agentbus, "--version").stdout.strip() == f"agentbus {__version__}"
    assert run(fakeclaude, "--help").returncode == 0
    assert run(agentbus, "enable", "claude-mcp").returncode == 0
    registered = json.loads((home / ".claude.json").read_text())["mcpServers"]["agentbus"]
    assert registered["command"].startswith(str(tmp_path / "pipx" / "venvs" / "agentbus")), registered
    checks = {c["id"]: c for c in json.loads(run(agentbus, "doctor", "--json").stdout)["checks"]}
    assert checks["startup"]["status"] == "pass", checks["startup"]
    assert checks["registration.user"]["status"] == "pass", checks["registration.user"]
