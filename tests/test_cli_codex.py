"""agentbus enable / disable / list / launch for the codex adapter, on a temp HOME's ~/.codex/config.toml."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from agentbus.cli import app
from agentbus.cli.codex_config import CodexConfigError, add_server, registered, remove_server

SHAPES = {
    "comments and keys": 'model = "o3"\n# a comment\napproval_policy = "on-request"\n',
    "no final newline": 'model = "o3"',
    "another server and a table after it": (
        'model = "o3"\n\n[mcp_servers.other]\ncommand = "x" # keep\nargs = []\n\n[profiles.a]\nmodel = "b"\n'
    ),
    "dotted keys": 'model = "o3"\nmcp_servers.other.command = "x"\n',
    "an inline mcp_servers table": 'model = "o3"\nmcp_servers = { other = { command = "x" } }\n',
    "blank lines at the end": 'model = "o3"\n\n\n',
    "a comment last": "[tui]\nnotifications = true\n\n# trailing comment\n",
}
KEYS = {"command": "/usr/bin/python3", "args": ["-m", "agentbus.adapters.codex"], "env_vars": ["AGENTBUS_HOME"]}


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def config(home: Path) -> Path:
    return home / ".codex" / "config.toml"


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_enable_then_disable_gives_the_file_back_byte_for_byte(tmp_path: Path, shape: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(SHAPES[shape])
    path.chmod(0o640)
    assert add_server(path, "agentbus", KEYS).action == "added"
    assert registered(path, "agentbus") == KEYS
    assert add_server(path, "agentbus", KEYS).action == "unchanged"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640, "enable changed the file's mode"
    assert remove_server(path, "agentbus").action == "removed"
    assert path.read_bytes() == SHAPES[shape].encode()


def test_a_changed_command_updates_our_block_in_place(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(SHAPES["comments and keys"])
    add_server(path, "agentbus", KEYS)
    moved = {**KEYS, "command": "/opt/venv/bin/python"}
    assert add_server(path, "agentbus", moved).action == "updated"
    assert registered(path, "agentbus") == moved
    assert path.read_text().count("[mcp_servers.agentbus]") == 1
    remove_server(path, "agentbus")
    assert path.read_text() == SHAPES["comments and keys"]


def test_edits_after_our_block_are_kept_on_disable(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(SHAPES["comments and keys"])
    add_server(path, "agentbus", KEYS)
    with path.open("a") as out:
        out.write('\n[profiles.fast]\nmodel = "o4-mini" # mine\n')
    assert remove_server(path, "agentbus").action == "removed"
    text = path.read_text()
    assert "agentbus" not in text
    assert 'model = "o4-mini" # mine' in text
    assert "# a comment" in text


def test_a_table_the_user_wrote_is_updated_not_duplicated(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[mcp_servers.agentbus]\ncommand = "old" # theirs\nstartup_timeout_sec = 20\n')
    assert add_server(path, "agentbus", KEYS).action == "updated"
    found = registered(path, "agentbus")
    assert found is not None
    assert found["command"] == KEYS["command"]
    assert found["startup_timeout_sec"] == 20


def test_invalid_toml_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    broken = 'model = "o3\n[unclosed\n'
    path.write_text(broken)
    with pytest.raises(CodexConfigError, match="is not valid TOML"):
        add_server(path, "agentbus", KEYS)
    assert path.read_text() == broken


def test_cli_enable_list_disable(isolated_env: dict[str, str]) -> None:
    home = Path(isolated_env["HOME"])
    enabled = cli("enable", "codex")
    assert enabled.exit_code == 0, enabled.output
    assert "enabled codex" in enabled.stdout
    assert "agentbus launch codex NAME" in enabled.stdout
    table = registered(config(home), "agentbus")
    assert table is not None
    assert table["args"] == ["-m", "agentbus.adapters.codex"]
    assert table["default_tools_approval_mode"] == "approve"
    assert {"AGENTBUS_NAME", "AGENTBUS_HOME", "AGENTBUS_CODEX_SOCKET", "AGENTBUS_DB_URL"} <= set(table["env_vars"])
    assert stat.S_IMODE(config(home).stat().st_mode) == 0o600
    listed = cli("list")
    line = next(row for row in listed.stdout.splitlines() if row.startswith("codex"))
    assert line.split()[-2:] == ["enabled", "n/a"], line
    assert "already enabled" in cli("enable", "codex").stdout
    refused = cli("enable", "codex", "--scope", "project")
    assert refused.exit_code == 2
    assert "~/.codex/config.toml" in refused.stderr
    disabled = cli("disable", "codex")
    assert disabled.exit_code == 0
    assert "deleted" in disabled.stdout
    assert not config(home).exists()
    assert "not enabled" in cli("disable", "codex").stdout


def test_launch_print_and_refusals(isolated_env: dict[str, str]) -> None:
    printed = cli("launch", "codex", "cx", "--print")
    assert printed.exit_code == 0
    socket = Path(isolated_env["AGENTBUS_HOME"]) / "codex" / "cx.sock"
    assert f"codex app-server --listen unix://{socket}" in printed.stdout
    assert f"AGENTBUS_NAME=cx AGENTBUS_CODEX_SOCKET={socket} codex --remote unix://{socket}" in printed.stdout
    assert cli("launch", "codex").exit_code == 2
    not_enabled = cli("launch", "codex", "cx")
    assert not_enabled.exit_code == 1
    assert "agentbus enable codex" in not_enabled.stderr


FAKE_CODEX = """\
#!{python}
# A stand-in for codex: 'app-server --listen unix://P' listens on P until SIGTERM; '--remote unix://P'
# (the TUI) prints what it was given and exits.
import os, socket, sys, time
if sys.argv[1] == "app-server":
    path = sys.argv[3].removeprefix("unix://")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen()
    open(os.environ["FAKE_CODEX_LOG"], "a").write(f"app-server {{os.getpid()}}\\n")
    while True:
        time.sleep(1)
given = os.environ["AGENTBUS_NAME"], os.environ["AGENTBUS_CODEX_SOCKET"]
print("tui", sys.argv[2], *given, os.path.exists(sys.argv[2][7:]))
"""


def test_launch_runs_the_app_server_and_the_tui_then_stops_the_server(
    isolated_env: dict[str, str], tmp_path: Path
) -> None:
    assert cli("enable", "codex").exit_code == 0
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "codex"
    fake.write_text(FAKE_CODEX.format(python=sys.executable))
    fake.chmod(0o755)
    log = tmp_path / "codex.log"
    env = {**isolated_env, "PATH": f"{bin_dir}{os.pathsep}{isolated_env['PATH']}", "FAKE_CODEX_LOG": str(log)}
    done = subprocess.run(
        [sys.executable, "-m", "agentbus.cli", "launch", "codex", "cx"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    socket = Path(isolated_env["AGENTBUS_HOME"]) / "codex" / "cx.sock"
    assert done.stdout.split() == ["tui", f"unix://{socket}", "cx", str(socket), "True"]
    server_pid = int(log.read_text().split()[1])
    assert not _alive(server_pid), "the app-server is still running after the TUI exited"
    assert not socket.exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] if Path(f"/proc/{pid}").exists() else "X"
    return state not in ("Z", "X")
