"""claude-mcp adapter: identity at startup, exit on EOF and on signals, and clear startup failures."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.waiting import wait_until

from agentbus.core import Bus, Settings
from fakeclaude import Sandbox, Session

StartSession = Callable[..., Session]
ADAPTER = [sys.executable, "-m", "agentbus.adapters.claude_mcp"]
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


def live_names(sandbox: Sandbox) -> list[str]:
    with Bus(Settings.from_env({"AGENTBUS_HOME": str(sandbox.bus_home)})) as bus:
        return [peer.name for peer in bus.peers()]


def run_once(tmp_path: Path, stdin: bytes, **env: str) -> subprocess.CompletedProcess[bytes]:
    """Run the adapter with a fixed stdin (it ends in EOF) and collect everything it wrote."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTBUS_")}
    full_env.update({"AGENTBUS_HOME": str(tmp_path / "bus"), "HOME": str(home), "AGENTBUS_NAME": "alice", **env})
    return subprocess.run(ADAPTER, input=stdin, capture_output=True, env=full_env, timeout=30, check=False)


def opening_lines() -> bytes:
    return (json.dumps(INITIALIZE) + "\n" + '{"jsonrpc":"2.0","method":"notifications/initialized"}\n').encode()


# ------------------------------------------------------------------ identity


def test_a_taken_name_gets_a_suffix_and_whoami_says_so(fakeclaude_session: StartSession) -> None:
    fakeclaude_session("alice")
    second = fakeclaude_session("alice")
    whoami = second.call_tool("whoami")
    assert whoami.structured["name"] == "alice-2"
    assert whoami.structured["requested"] == "alice"
    assert "You asked for alice but a live session holds it; you are alice-2." in whoami.text
    third = fakeclaude_session("alice")
    assert third.call_tool("whoami").structured["name"] == "alice-3"


def test_the_env_name_is_sanitised(fakeclaude_session: StartSession) -> None:
    whoami = fakeclaude_session("Front End!").call_tool("whoami")
    assert whoami.structured["name"] == "front-end"
    assert "AGENTBUS_NAME 'Front End!' was turned into the valid name 'front-end'" in whoami.text


def test_no_name_gets_a_generated_one(fakeclaude_session: StartSession) -> None:
    session = fakeclaude_session(None)
    whoami = session.call_tool("whoami")
    assert re.fullmatch(r"agent-[0-9a-f]{4}", whoami.structured["name"])
    assert "this name was generated; set_name picks a better one" in whoami.text
    # Pushing starts once the client can hear it (SPEC MCP-9), a moment after tools/list.
    wait_until(lambda: session.call_tool("whoami").structured["can_push"], timeout=10, what="pushing to start")


def test_whoami_and_list_peers_mark_you(fakeclaude_session: StartSession) -> None:
    alice = fakeclaude_session("alice")
    whoami = alice.call_tool("whoami")
    assert whoami.text.startswith("You are alice on agentbus; peers reach you with send_message(to='alice').")
    listing = alice.call_tool("list_peers")
    assert listing.text == "Only you (alice) are online on agentbus."
    assert listing.structured["you"] == "alice"


# ------------------------------------------------------------------ ending


def test_exits_promptly_on_stdin_eof_and_unregisters(fakeclaude_session: StartSession, fakeclaude_bus: Sandbox) -> None:
    alice = fakeclaude_session("alice")
    fakeclaude_session("bob")
    assert live_names(fakeclaude_bus) == ["alice", "bob"]
    result = alice.close(timeout=5)
    assert result.exited, result.describe()
    assert result.exit_code == 0, result.describe()
    assert result.seconds_to_exit is not None, result.describe()
    assert result.seconds_to_exit < 1.0, result.describe()
    assert live_names(fakeclaude_bus) == ["bob"]
    assert alice.violations == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_exits_promptly_on_a_stop_signal_and_unregisters(
    fakeclaude_session: StartSession, fakeclaude_bus: Sandbox, signum: signal.Signals
) -> None:
    alice = fakeclaude_session("alice")
    assert alice.call_tool("whoami").structured["name"] == "alice"
    assert alice.pid is not None
    started = time.monotonic()
    os.kill(alice.pid, signum)
    code = alice.wait_exit(timeout=5)
    elapsed = time.monotonic() - started
    assert code == 0, alice.stderr
    assert elapsed < 1.0, f"took {elapsed:.3f}s to exit after {signum.name}"
    assert live_names(fakeclaude_bus) == []
    assert "Traceback" not in alice.stderr


def test_eof_before_any_message_exits_cleanly(tmp_path: Path) -> None:
    done = run_once(tmp_path, b"")
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")


def test_stdout_carries_only_protocol_even_when_logging_verbosely(tmp_path: Path) -> None:
    done = run_once(tmp_path, opening_lines(), AGENTBUS_LOG_LEVEL="DEBUG")
    assert done.returncode == 0
    lines = done.stdout.decode().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [1]
    assert b"DEBUG" in done.stderr  # the logs went to stderr


# ------------------------------------------------------------------ startup failures


def assert_one_clear_line(done: subprocess.CompletedProcess[bytes], code: int, words: str) -> None:
    stderr = done.stderr.decode()
    assert done.returncode == code, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("agentbus: "), lines[0]
    assert words in lines[0], lines[0]


def test_a_corrupt_bus_is_one_clear_line_and_a_failure(tmp_path: Path) -> None:
    bus_dir = tmp_path / "bus"
    bus_dir.mkdir(mode=0o700)
    (bus_dir / "bus.db").write_bytes(b"this is not a database file at all" * 100)
    assert_one_clear_line(run_once(tmp_path, opening_lines()), 1, "corrupt or not an agentbus database")


def test_an_unsafe_bus_directory_is_refused(tmp_path: Path) -> None:
    bus_dir = tmp_path / "bus"
    bus_dir.mkdir()
    bus_dir.chmod(0o777)
    assert_one_clear_line(run_once(tmp_path, opening_lines()), 1, "writable by group or others")


def test_bad_settings_are_one_clear_line(tmp_path: Path) -> None:
    done = run_once(tmp_path, opening_lines(), AGENTBUS_HEARTBEAT_SECONDS="soon")
    assert_one_clear_line(done, 2, "AGENTBUS_HEARTBEAT_SECONDS='soon' is not a number")
    done = run_once(tmp_path, opening_lines(), AGENTBUS_TRIGGER="carrier-pigeon")
    assert_one_clear_line(done, 2, "AGENTBUS_TRIGGER='carrier-pigeon' is unknown")


def test_no_free_name_is_one_clear_line(tmp_path: Path) -> None:
    settings = Settings.from_env({"AGENTBUS_HOME": str(tmp_path / "bus")})
    with Bus(settings) as bus:
        for n in range(1, 100):
            bus.register("alice" if n == 1 else f"alice-{n}", session_id=f"s{n}", adapter="test")
        done = run_once(tmp_path, opening_lines())
    assert_one_clear_line(done, 1, "names 'alice' to 'alice-99' are all taken")


def test_registered_before_initialize_is_answered(tmp_path: Path) -> None:
    """The client may act on the initialize result at once: by then the peer is on the bus."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTBUS_")}
    env.update({"AGENTBUS_HOME": str(tmp_path / "bus"), "HOME": str(home), "AGENTBUS_NAME": "early"})
    with subprocess.Popen(ADAPTER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env) as proc:
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.write(json.dumps(INITIALIZE).encode() + b"\n")
        proc.stdin.flush()
        answer = json.loads(proc.stdout.readline())  # blocks until answered; the test timeout bounds it
        assert answer["id"] == 1
        with Bus(Settings.from_env({"AGENTBUS_HOME": str(tmp_path / "bus")})) as bus:
            assert [p.name for p in bus.peers()] == ["early"]
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0


def test_exits_when_the_client_closes_its_stdout(tmp_path: Path, fakeclaude_session: StartSession) -> None:
    """A client that stops reading is gone even if it keeps stdin open: the adapter must not linger."""
    alice = fakeclaude_session("alice")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTBUS_")}
    env.update({"AGENTBUS_HOME": str(alice.bus_home), "HOME": str(home), "AGENTBUS_NAME": "bob"})
    with subprocess.Popen(ADAPTER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env) as proc:
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.write(json.dumps(INITIALIZE).encode() + b"\n")
        proc.stdin.write(b'{"jsonrpc":"2.0","id":2,"method":"tools/list"}\n')
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["id"] == 1
        assert json.loads(proc.stdout.readline())["id"] == 2  # fully up: the SDK answers
        proc.stdout.close()
        started = time.monotonic()
        assert proc.wait(timeout=5) == 0
        assert time.monotonic() - started < 1.0
        result = alice.call_tool("send_message", {"to": "bob", "text": "are you there?"})
        assert result.structured["queued_offline"] is True
        proc.stdin.close()
