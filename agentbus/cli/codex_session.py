"""Codex on the bus: register the codex adapter in ``~/.codex/config.toml``, and launch a session wired for push.

``agentbus launch codex NAME`` starts ``codex app-server --listen unix://SOCKET`` (a private socket
under ``AGENTBUS_HOME/codex``, or under ``/tmp`` when that path would not fit AF_UNIX's 107 bytes)
in a session of its own, then the stock TUI on it (``codex --remote unix://SOCKET``) in the
foreground, both with ``AGENTBUS_NAME=NAME`` and ``AGENTBUS_CODEX_SOCKET``: the codex adapter,
started by Codex as its MCP server, pushes each message into the TUI's thread through that
socket. When the TUI exits, the app-server is stopped.
"""

import contextlib
import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from agentbus.cli import claude_config as cc
from agentbus.cli import codex_config
from agentbus.cli.app import CliError
from agentbus.core.config import Settings
from agentbus.manifest import Manifest

CODEX_KIND = "codex-mcp-server"
INSTALL_HINT = "install Codex (npm install -g @openai/codex)"
#: AF_UNIX paths are at most 107 bytes; leave room for the name.
SOCKET_PATH_LIMIT = 100
APP_SERVER_START_SECONDS = 15.0


def server_keys(manifest: Manifest) -> dict[str, object]:
    """The ``[mcp_servers.agentbus]`` keys for this install (absolute interpreter, forwarded settings)."""
    entry = cc.server_entry(manifest.command)
    return codex_config.server_table(str(entry["command"]), list(entry["args"]))


def is_enabled(manifest: Manifest, path: Path | None = None) -> bool:
    found = codex_config.registered(path or codex_config.config_path(), manifest.server_name)
    return found is not None and found.get("command") == server_keys(manifest)["command"]


def socket_path(settings: Settings, name: str) -> Path:
    """Where session ``name``'s app-server listens: ``AGENTBUS_HOME/codex/NAME.sock``, or a short /tmp path."""
    preferred = settings.home / "codex" / f"{name}.sock"
    if len(str(preferred)) <= SOCKET_PATH_LIMIT:
        return preferred
    bus = hashlib.sha256(str(settings.home).encode()).hexdigest()[:12]  # one directory per bus
    return Path(tempfile.gettempdir()) / f"agentbus-codex-{os.getuid()}" / bus / f"{name}.sock"


def _private_directory(directory: Path) -> None:
    """Create ``directory`` and any missing parent 0700 (mkdir's mode applies to the last one only)."""
    missing = [parent for parent in (directory, *directory.parents) if not parent.exists()]
    for each in reversed(missing):
        each.mkdir(mode=0o700)


def launch_lines(codex: str, socket: Path, name: str) -> tuple[list[str], list[str], str]:
    """(app-server argv, TUI argv, the two commands as a person would type them)."""
    server = [codex, "app-server", "--listen", f"unix://{socket}"]
    tui = [codex, "--remote", f"unix://{socket}"]
    variables = f"AGENTBUS_NAME={shlex.quote(name)} AGENTBUS_CODEX_SOCKET={shlex.quote(str(socket))}"
    shown = f"{variables} {shlex.join(server)} &\n{variables} {shlex.join(tui)}"
    return server, tui, shown


def launch(manifest: Manifest, name: str, settings: Settings, *, print_only: bool) -> str | int:
    """Print the commands (``print_only``), or run the session; the text to print, or the TUI's exit code."""
    codex = shutil.which("codex")
    socket = socket_path(settings, name)
    server, tui, shown = launch_lines(codex or "codex", socket, name)
    if print_only:
        return shown
    if not is_enabled(manifest):
        raise CliError("codex is not enabled, so the session would not see agentbus; run: agentbus enable codex")
    if codex is None:
        raise CliError(f"codex is not on PATH; {INSTALL_HINT}, then run: agentbus launch codex {name}")
    _private_directory(socket.parent)
    with contextlib.suppress(FileNotFoundError):
        socket.unlink()  # a socket left by a session that was killed
    env = {**os.environ, "AGENTBUS_NAME": name, "AGENTBUS_CODEX_SOCKET": str(socket)}
    log_path = socket.with_suffix(".log")
    with open(log_path, "wb") as log:
        app_server = subprocess.Popen(
            server, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    try:
        deadline = time.monotonic() + APP_SERVER_START_SECONDS
        while not socket.exists():
            if app_server.poll() is not None or time.monotonic() > deadline:
                raise CliError(f"codex app-server did not start (see {log_path})")
            time.sleep(0.05)
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the TUI
        try:
            return subprocess.run(tui, env=env, check=False).returncode
        finally:
            signal.signal(signal.SIGINT, previous)
    finally:
        _stop(app_server)
        with contextlib.suppress(FileNotFoundError):
            socket.unlink()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
