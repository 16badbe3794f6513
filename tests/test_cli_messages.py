"""agentbus send / peers / inbox / tail: a script talks to running sessions through the bus."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.waiting import wait_until
from typer.testing import CliRunner

from agentbus.cli import app
from agentbus.core import Bus, Settings
from fakeclaude import Session


def agentbus(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentbus.cli", *args],
        env=env,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def bob(isolated_env: dict[str, str]) -> Iterator[Session]:
    with Session(
        "claude-mcp", name="bob", bus_home=isolated_env["AGENTBUS_HOME"], home=isolated_env["HOME"]
    ) as session:
        # Pushing starts a moment after tools/list (SPEC MCP-9); the peers table says so once it has.
        with Bus(Settings.from_env(isolated_env)) as bus:
            wait_until(lambda: getattr(bus.peer("bob"), "can_push", False), timeout=10, what="bob to push")
        yield session


def test_send_wakes_a_live_session_which_gets_a_channel_event(isolated_env: dict[str, str], bob: Session) -> None:
    result = agentbus(isolated_env, "send", "bob", "build is green", "--wait", "10")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("sent #1 cli -> bob (online)")
    assert "seen #1 by bob (in its model's context)" in result.stdout
    event = bob.wait_for_channel(timeout=10)
    assert event.content == "build is green"
    assert event.meta["from"] == "cli"
    assert event.meta["msg_id"] == "1"


def test_send_as_a_named_sender_and_reply_to(isolated_env: dict[str, str], bob: Session) -> None:
    bob.call_tool("send_message", {"to": "ci-bot", "text": "is main green?"})
    result = agentbus(isolated_env, "send", "bob", "yes", "--as", "ci-bot", "--reply-to", "1")
    assert result.returncode == 0, result.stderr
    event = bob.wait_for_channel(timeout=10)
    assert event.meta["from"] == "ci-bot"
    assert event.meta["reply_to"] == "1"


def test_send_defaults_to_agentbus_name_and_reads_stdin(isolated_env: dict[str, str]) -> None:
    result = agentbus({**isolated_env, "AGENTBUS_NAME": "Frontend"}, "send", "bob", "-", stdin="line one\nline two\n")
    assert result.returncode == 0, result.stderr
    assert "frontend -> bob (offline: queued until it starts)" in result.stdout
    with Bus(Settings.from_env(isolated_env)) as bus:
        (pending,) = bus.pending("bob")
    assert pending.sender == "frontend"
    assert pending.body == "line one\nline two\n"


def test_mail_sent_to_an_offline_peer_arrives_when_it_starts(isolated_env: dict[str, str]) -> None:
    assert agentbus(isolated_env, "send", "carol", "welcome back").returncode == 0
    with Session(
        "claude-mcp", name="carol", bus_home=isolated_env["AGENTBUS_HOME"], home=isolated_env["HOME"]
    ) as carol:
        carol.assert_channel("welcome back", within=10, from_="cli")


@pytest.mark.parametrize(
    ("args", "extra_env", "code", "message"),
    [
        (["send", "Bob!", "hi"], {}, 2, "invalid recipient name 'Bob!'"),
        (["send", "bob", "hi", "--as", "bob"], {}, 2, "cannot send a message to itself"),
        (["send", "bob", "x" * 40], {"AGENTBUS_MAX_BODY": "16"}, 2, "the limit is 16 bytes"),
        (["send", "*", "anyone?"], {}, 1, "no other peer is online"),
        (["send", "bob", "hi", "--reply-to", "99"], {}, 2, "reply_to=99"),
        (["send", "bob", "hi"], {"AGENTBUS_MAX_BODY": "lots"}, 2, "AGENTBUS_MAX_BODY='lots' is not a number"),
    ],
    ids=["bad-name", "self-send", "too-large", "broadcast-to-nobody", "unknown-reply", "bad-setting"],
)
def test_send_errors_are_one_line_and_an_exit_code(
    isolated_env: dict[str, str], args: list[str], extra_env: dict[str, str], code: int, message: str
) -> None:
    result = CliRunner().invoke(app, args, env=extra_env)
    assert result.exit_code == code, result.stderr
    assert message in result.stderr
    assert result.stderr.startswith("agentbus: error: ")
    assert len(result.stderr.splitlines()) == 1


def test_a_real_process_prints_one_error_line_without_traceback(isolated_env: dict[str, str]) -> None:
    result = agentbus(isolated_env, "send", "bob", "x" * 40, "--as", "Not Valid")
    assert result.returncode == 2
    assert (
        result.stderr
        == "agentbus: error: invalid sender name 'Not Valid': use 1-32 characters from a-z, 0-9, '_' and '-'\n"
    )


def test_send_wait_times_out_for_an_offline_peer(isolated_env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["send", "nobody", "hi", "--wait", "0.2"])
    assert result.exit_code == 3
    assert "not seen within 0.2s: #1 (nobody: queued)" in result.stderr


def test_peers_lists_live_sessions_and_reaps_stale_ones(isolated_env: dict[str, str], bob: Session) -> None:
    settings = Settings.from_env(isolated_env)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with Bus(settings) as bus:
        bus.register("ghost", session_id="g", adapter="claude-mcp", pid=dead.pid)

    shown = agentbus(isolated_env, "peers", "--all")
    assert shown.returncode == 0, shown.stderr
    rows = {line.split()[0]: line for line in shown.stdout.splitlines()[1:]}
    assert "live" in rows["bob"]
    assert "push" in rows["bob"]
    assert "stale (pid" in rows["ghost"]

    listed = agentbus(isolated_env, "peers", "--json")
    assert [p["name"] for p in json.loads(listed.stdout)] == ["bob"]
    again = agentbus(isolated_env, "peers", "--all", "--json")
    assert [p["name"] for p in json.loads(again.stdout)] == ["bob"]  # the listing above reaped the ghost


def test_read_commands_do_not_create_a_bus(isolated_env: dict[str, str]) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["peers"])
    assert result.exit_code == 0
    assert "no bus yet" in result.stderr
    assert runner.invoke(app, ["inbox", "bob", "--json"]).stdout.strip() == '{"pending": [], "recent": []}'
    assert not Path(isolated_env["AGENTBUS_HOME"]).exists()


def test_inbox_shows_pending_and_recent_mail(isolated_env: dict[str, str], bob: Session) -> None:
    assert agentbus(isolated_env, "send", "bob", "first", "--wait", "10").returncode == 0
    assert agentbus(isolated_env, "send", "dave", "for dave\nsecond line").returncode == 0
    result = CliRunner().invoke(app, ["inbox", "dave"])
    assert result.exit_code == 0
    assert "pending for dave (1)" in result.stdout
    assert "for dave ⏎ second line" in result.stdout
    data = json.loads(CliRunner().invoke(app, ["inbox", "bob", "--json"]).stdout)
    assert data["pending"] == []
    assert [(m["text"], m["status"]) for m in data["recent"]] == [("first", "seen")]


def test_tail_replays_from_an_id_and_stops_after_count(isolated_env: dict[str, str]) -> None:
    with Bus(Settings.from_env(isolated_env)) as bus:
        bus.send("alice", "bob", "one")
        bus.send("bob", "alice", "two", reply_to=1)
        bus.send("alice", "carol", "three")
    result = CliRunner().invoke(app, ["tail", "--after", "0", "--count", "2"])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].endswith("#1 alice -> bob: one")
    assert result.stdout.splitlines()[1].endswith("#2 bob -> alice (reply to #1): two")
    assert len(result.stdout.splitlines()) == 2
    lines = CliRunner().invoke(app, ["tail", "--after", "0", "--peer", "carol", "--json", "--timeout", "0.3"])
    assert [json.loads(line)["text"] for line in lines.stdout.splitlines()] == ["three"]


def test_tail_follows_new_messages_live(isolated_env: dict[str, str]) -> None:
    with Bus(Settings.from_env(isolated_env)) as bus:
        bus.send("alice", "bob", "old news")
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentbus.cli", "tail", "--json", "--count", "1", "--timeout", "30"],
        env=isolated_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        assert proc.stdout is not None
        assert "after #1" in proc.stderr.readline()  # tail is following: send now
        assert agentbus(isolated_env, "send", "bob", "fresh").returncode == 0
        line = proc.stdout.readline()
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.communicate()
    message = json.loads(line)
    assert (message["id"], message["from"], message["to"], message["text"]) == (2, "cli", "bob", "fresh")


def test_tail_timeout_before_count_is_an_error(isolated_env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["tail", "--count", "1", "--timeout", "0.2"])
    assert result.exit_code == 1
    assert "timed out after 0.2s with 0 of 1 messages" in result.stderr


def test_tables_are_rich_on_a_terminal(isolated_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    with Bus(Settings.from_env(isolated_env)) as bus:
        bus.register("bob", session_id="s", adapter="claude-mcp", pid=os.getpid())
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")
    result = CliRunner().invoke(app, ["peers"])
    assert result.exit_code == 0
    assert "┏━" in result.stdout
    assert "NAME" in result.stdout
    assert "\x1b[" in result.stdout
