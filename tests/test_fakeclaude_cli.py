"""The fakeclaude command: one-shot send and a scripted chat, against the loopback test adapter."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

GOOD = str(Path(__file__).with_name("fake_adapters") / "good" / "module.json")
FAKECLAUDE = Path(sys.executable).with_name("fakeclaude")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AGENTBUS_")}
    return {**clean, "HOME": str(home), "AGENTBUS_HOME": str(tmp_path / "bus")}


def fakeclaude(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(FAKECLAUDE), *args], input=stdin, env=env, capture_output=True, text=True, timeout=30)


def test_help_lists_the_commands(env: dict[str, str]) -> None:
    done = fakeclaude(env, "--help")
    assert done.returncode == 0
    assert "chat" in done.stdout
    assert "send" in done.stdout


def test_send_one_message(env: dict[str, str]) -> None:
    done = fakeclaude(env, "send", "--as", "alice", "alice", "hello me", "--adapter", GOOD)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[send_message] sent to alice (msg_id 1)"


def test_send_reports_a_tool_error_and_fails(env: dict[str, str]) -> None:
    done = fakeclaude(env, "send", "--as", "alice", "bob", "hi", "--adapter", GOOD)
    assert done.returncode == 1
    assert "error from send_message: unknown peer 'bob'" in done.stderr


def test_an_unknown_adapter_is_a_clear_error(env: dict[str, str]) -> None:
    done = fakeclaude(env, "send", "--as", "alice", "bob", "hi", "--adapter", "no-such-adapter")
    assert done.returncode == 2
    assert "unknown adapter 'no-such-adapter'" in done.stderr


def test_scripted_chat(env: dict[str, str]) -> None:
    script = "\n".join(
        [
            "@alice hi there",
            "@bob nope",
            "/peers",
            "/whoami",
            "/name al2",
            "@al2 renamed",
            "/reply thanks",
            "@* all",
            "/broadcast again",
            "/read",
            "/bogus",
            "/quit",
            "@alice never sent",
        ]
    )
    done = fakeclaude(env, "chat", "alice", "--adapter", GOOD, stdin=script + "\n")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert (
        "fakeclaude: alice on fake-good as claude-code@2.1.337 (opening: discover-fallback; channel capability: yes)"
        in out
    )
    assert '<channel source="agentbus" from="alice" msg_id="1" ts="2026-01-01T00:00:00Z">\nhi there\n</channel>' in out
    assert "error from send_message: unknown peer 'bob'" in out
    assert "[list_peers] alice (you)" in out
    assert "[whoami] you are alice" in out
    assert "[set_name] you are now al2" in out
    assert 'from="al2" msg_id="3" ts="2026-01-01T00:00:00Z" reply_to="2">\nthanks\n</channel>' in out
    assert ">\nall\n</channel>" in out
    assert ">\nagain\n</channel>" in out
    assert "[read_messages] no unread messages" in out
    assert "unknown command '/bogus'" in out
    assert "never sent" not in out


def test_chat_ends_cleanly_on_eof(env: dict[str, str]) -> None:
    done = fakeclaude(env, "chat", "alice", "--adapter", GOOD, "--opening", "discover", stdin="")
    assert done.returncode == 0, done.stderr
    assert "opening: discover-fallback" in done.stdout
    assert done.stderr == ""
