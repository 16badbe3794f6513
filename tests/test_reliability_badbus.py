"""A bus the adapter cannot use (corrupt, truncated, read-only, not a directory, no wake dir): clear errors.

Each case checks the adapter (one ``agentbus:`` line on stderr and a non-zero exit, or tool errors)
and that ``agentbus doctor`` names the problem. Tests run as root here, and root writes through a
0500 directory; so the read-only cases run the adapter and doctor with the DAC-override
capabilities dropped (Linux, root) or simply as the non-root user they already are.
"""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.waiting import wait_until

from agentbus.core import Bus, Settings
from agentbus.manifest import Manifest, resolve_adapter
from fakeclaude import HandshakeError, Sandbox, Session

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

# Drops CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and CAP_FOWNER from the bounding set, then execs the
# rest of argv with this interpreter: root then obeys permission bits like any other user.
WITHOUT_DAC_OVERRIDE = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
for cap in (1, 2, 3):
    if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
        raise SystemExit("prctl(PR_CAPBSET_DROP) failed: errno %d" % ctypes.get_errno())
os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
"""


def as_plain_user(argv: list[str]) -> list[str]:
    """``argv`` (python arguments) run so that directory permission bits apply to this test's user."""
    return [sys.executable, "-c", WITHOUT_DAC_OVERRIDE, *argv] if IS_ROOT else [sys.executable, *argv]


def doctor(env: dict[str, str], *, plain_user: bool = False) -> dict[str, dict[str, Any]]:
    """``agentbus doctor --json --no-spawn`` as a real process: its checks by id."""
    argv = ["-m", "agentbus.cli", "doctor", "--json", "--no-spawn"]
    command = as_plain_user(argv) if plain_user else [sys.executable, *argv]
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    return {check["id"]: check for check in json.loads(done.stdout)["checks"]}


def refusal(session: Session) -> str:
    """Start a session on an unusable bus; the sentence it refuses with (stderr line or tool error)."""
    try:
        session.start(timeout=15)
    except HandshakeError:
        code = session.wait_exit(5)
        assert code not in (None, 0), f"adapter exit code {code}\n{session.stderr}"
        stderr = session.stderr
        assert "Traceback" not in stderr, stderr
        lines = [line for line in stderr.splitlines() if line.startswith("agentbus: ")]
        assert len(lines) == 1, stderr
        return lines[0]
    result = session.call_tool("whoami")  # an adapter may also stay up and refuse each tool
    assert result.is_error, result.text
    return result.text


def no_other_bus(sandbox: Sandbox) -> None:
    """LIFE-3: a bus it cannot use never makes the adapter create a second bus somewhere else."""
    assert not (sandbox.home / ".agentbus").exists()


def make_bus_with_mail(settings: Settings, count: int = 200) -> None:
    with Bus.open(settings) as bus:
        for i in range(count):
            bus.send("alice", "bob", f"{i} " + "x" * 2000)
    for suffix in ("-wal", "-shm"):
        Path(f"{settings.db_path}{suffix}").unlink(missing_ok=True)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_bus_file_is_refused_named_and_left_alone(fakeclaude_bus: Sandbox, damage: str) -> None:
    settings = Settings(home=fakeclaude_bus.bus_home)
    if damage == "garbage":
        settings.home.mkdir(mode=0o700)
        settings.db_path.write_bytes(os.urandom(64 * 1024))
        settings.db_path.chmod(0o600)
    else:
        make_bus_with_mail(settings)
        data = settings.db_path.read_bytes()
        settings.db_path.write_bytes(data[: len(data) // 2])
    before = settings.db_path.read_bytes()

    line = refusal(fakeclaude_bus.session("bob"))
    assert "corrupt" in line, line
    assert str(settings.db_path) in line, line
    assert "move it aside" in line, line  # says what to do
    assert settings.db_path.read_bytes() == before
    no_other_bus(fakeclaude_bus)

    integrity = doctor(fakeclaude_bus.env)["bus.integrity"]
    assert integrity["status"] == "fail", integrity
    assert "mv " in integrity["hint"], integrity


def test_a_bus_home_below_a_regular_file_is_refused(fakeclaude_bus: Sandbox) -> None:
    blocker = fakeclaude_bus.root / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    home = blocker / "bus"
    line = refusal(fakeclaude_bus.session("bob", bus_home=home))
    assert str(home) in line, line
    assert "Not a directory" in line, line
    no_other_bus(fakeclaude_bus)


def test_doctor_names_a_bus_home_below_a_regular_file(fakeclaude_bus: Sandbox) -> None:
    blocker = fakeclaude_bus.root / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    location = doctor({**fakeclaude_bus.env, "AGENTBUS_HOME": str(blocker / "bus" / "deeper")})["bus.location"]
    assert location["status"] == "fail", location
    assert f"{blocker} is a file" in location["summary"], location
    assert str(blocker) in location["hint"], location
    assert "AGENTBUS_HOME" in location["hint"], location
    assert blocker.read_text() == "a file where a directory should be"


def test_doctor_names_a_bus_home_below_a_dangling_symlink(fakeclaude_bus: Sandbox) -> None:
    link = fakeclaude_bus.root / "gone"
    link.symlink_to(fakeclaude_bus.root / "nowhere")
    location = doctor({**fakeclaude_bus.env, "AGENTBUS_HOME": str(link / "bus")})["bus.location"]
    assert location["status"] == "fail", location
    assert f"{link} is a symlink" in location["summary"], location
    assert not (fakeclaude_bus.root / "nowhere").exists()


def test_a_missing_bus_home_below_a_read_only_directory_is_refused_and_named(fakeclaude_bus: Sandbox) -> None:
    parent = fakeclaude_bus.root / "ro-parent"
    parent.mkdir(mode=0o500)
    if not _plain_user_cannot_write(parent):
        parent.chmod(0o700)
        pytest.skip("cannot make a directory read-only for this user here (root without PR_CAPBSET_DROP)")
    home = parent / "sub" / "bus"
    try:
        adapter = dataclasses.replace(
            resolve_adapter("claude-mcp"), command=tuple(as_plain_user(["-m", "agentbus.adapters.claude_mcp"]))
        )
        line = refusal(fakeclaude_bus.session("bob", adapter, bus_home=home))
        assert "Permission denied" in line, line  # the premise: no session can create it

        location = doctor({**fakeclaude_bus.env, "AGENTBUS_HOME": str(home)}, plain_user=True)["bus.location"]
        assert location["status"] == "fail", location
        assert f"cannot write into {parent}" in location["summary"], location
        assert "AGENTBUS_HOME" in location["hint"], location
        assert not (parent / "sub").exists()
    finally:
        parent.chmod(0o700)


def test_a_wake_path_that_is_a_file_is_refused_by_name(fakeclaude_bus: Sandbox) -> None:
    Bus.open(Settings(home=fakeclaude_bus.bus_home)).close()
    wake = fakeclaude_bus.bus_home / "wake"
    shutil.rmtree(wake)
    wake.write_text("not a directory")
    line = refusal(fakeclaude_bus.session("bob"))
    assert str(wake) in line, line


def _plain_user_cannot_write(directory: Path) -> bool:
    probe = [*as_plain_user(["-c", f"open({str(directory / 'probe')!r}, 'w')"])]
    return subprocess.run(probe, capture_output=True, timeout=30).returncode != 0


def read_only_home(sandbox: Sandbox, content: str) -> tuple[Path, Manifest]:
    """A 0500 bus home holding ``content`` ("bus", "wake" only, or "nothing") and the adapter run as a plain user."""
    home = sandbox.root / f"ro-{content}"
    if content == "bus":
        make_bus_with_mail(Settings(home=home), count=3)
    else:
        home.mkdir(mode=0o700)
        if content == "wake":
            (home / "wake").mkdir(mode=0o700)
    home.chmod(0o500)
    if not _plain_user_cannot_write(home):
        home.chmod(0o700)
        pytest.skip("cannot make a directory read-only for this user here (root without PR_CAPBSET_DROP)")
    manifest = resolve_adapter("claude-mcp")
    command = tuple(as_plain_user(["-m", "agentbus.adapters.claude_mcp"]))
    return home, dataclasses.replace(manifest, command=command)


@pytest.mark.parametrize("content", ["bus", "wake", "nothing"])
def test_a_read_only_bus_home_is_refused_with_a_clear_line(fakeclaude_bus: Sandbox, content: str) -> None:
    home, adapter = read_only_home(fakeclaude_bus, content)
    try:
        line = refusal(fakeclaude_bus.session("bob", adapter, bus_home=home))
        assert str(home) in line, line
        assert any(words in line for words in ("permission", "Permission denied", "readonly", "read-only")), line
        no_other_bus(fakeclaude_bus)
    finally:
        home.chmod(0o700)


def test_doctor_names_a_read_only_bus_home(fakeclaude_bus: Sandbox) -> None:
    home, _ = read_only_home(fakeclaude_bus, "bus")
    try:
        checks = doctor({**fakeclaude_bus.env, "AGENTBUS_HOME": str(home)}, plain_user=True)
        bus_checks = {k: v for k, v in checks.items() if k.startswith("bus.")}
        assert any(c["status"] == "fail" and "writ" in c["summary"] for c in bus_checks.values()), bus_checks
        assert checks["bus.permissions"]["hint"] == f"chmod 700 {home}", checks["bus.permissions"]
    finally:
        home.chmod(0o700)


def test_doctor_names_a_bus_home_it_cannot_enter(fakeclaude_bus: Sandbox) -> None:
    home, _ = read_only_home(fakeclaude_bus, "bus")
    home.chmod(0o000)
    try:
        checks = doctor({**fakeclaude_bus.env, "AGENTBUS_HOME": str(home)}, plain_user=True)  # no crash on EACCES
        permissions = checks["bus.permissions"]
        assert permissions["status"] == "fail", permissions
        assert f"cannot write into {home}" in permissions["summary"], permissions
        assert "bus.integrity" not in checks, checks
        assert "wake" not in checks, checks
    finally:
        home.chmod(0o700)


def test_a_bus_file_of_another_user_is_refused_and_named(fakeclaude_bus: Sandbox) -> None:
    settings = Settings(home=fakeclaude_bus.bus_home)
    make_bus_with_mail(settings, count=3)
    wal = Path(f"{settings.db_path}-wal")
    wal.write_bytes(b"")
    wal.chmod(0o666)
    try:
        os.chown(wal, 65534, -1)
    except PermissionError:
        pytest.skip("only root can give a file to another user")
    adapter = dataclasses.replace(
        resolve_adapter("claude-mcp"), command=tuple(as_plain_user(["-m", "agentbus.adapters.claude_mcp"]))
    )
    line = refusal(fakeclaude_bus.session("bob", adapter))
    assert str(settings.db_path) in line, line  # the premise: a session cannot make it private, so it refuses

    permissions = doctor(fakeclaude_bus.env, plain_user=True)["bus.permissions"]
    assert permissions["status"] == "fail", permissions
    assert f"{wal} is owned by uid 65534" in permissions["summary"], permissions
    assert "chown" in permissions["hint"], permissions


def test_a_read_only_bus_file_you_own_is_made_private_again_not_failed(fakeclaude_bus: Sandbox) -> None:
    settings = Settings(home=fakeclaude_bus.bus_home)
    make_bus_with_mail(settings, count=3)
    settings.db_path.chmod(0o400)
    permissions = doctor(fakeclaude_bus.env, plain_user=True)["bus.permissions"]
    assert permissions["status"] == "pass", permissions  # every session chmods it 600 before opening it
    adapter = dataclasses.replace(
        resolve_adapter("claude-mcp"), command=tuple(as_plain_user(["-m", "agentbus.adapters.claude_mcp"]))
    )
    bob = fakeclaude_bus.session("bob", adapter)
    bob.start(timeout=15)
    assert not bob.call_tool("send_message", {"to": "alice", "text": "still works"}).is_error


def test_a_wake_directory_removed_under_running_peers(fakeclaude_bus: Sandbox) -> None:
    env = {"AGENTBUS_SAFETY_POLL_SECONDS": "0.3"}
    Bus.open(Settings(home=fakeclaude_bus.bus_home)).close()
    alice, bob = fakeclaude_bus.start_sessions("alice", "bob", env=env)
    assert not alice.call_tool("send_message", {"to": "bob", "text": "warm-up"}).is_error
    assert bob.wait_for_channel(timeout=5).content == "warm-up"

    shutil.rmtree(fakeclaude_bus.bus_home / "wake")
    sent = alice.call_tool("send_message", {"to": "bob", "text": "without a wake file"})
    assert not sent.is_error, sent.text  # a failed wake must not fail the send
    assert bob.wait_for_channel(timeout=5).content == "without a wake file"  # the safety poll delivers
    wait_until(lambda: "could not wake bob" in alice.stderr, timeout=5, what="the sender's warning")

    wake = doctor(fakeclaude_bus.env)["wake"]
    assert wake["status"] in ("warn", "fail"), wake
    assert "does not exist" in wake["summary"], wake
    assert alice.alive
    assert bob.alive
