"""Which Codex app-server runs this session's thread, found from the process that started the adapter.

Codex runs every session's thread on an app-server and starts a thread's MCP servers as that
app-server's children, one set per thread (checked with 0.169.0 and 0.171.0). A plain ``codex``
starts (or joins) its managed daemon, ``codex app-server --listen unix:// --managed-daemon``, whose
``unix://`` is ``$CODEX_HOME/app-server-control/app-server-control.sock``; ``agentbus launch codex``
starts a private one with ``--listen unix://PATH``. Either way the adapter's parent names the socket
the session's own TUI talks to, so the app-server door opens for sessions started the ordinary way.
``AGENTBUS_CODEX_SOCKET`` overrides the search. Standard library only: it runs before the loop.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from agentbus.adapters.doors import APP_SERVER, Plan, process_info, setting
from agentbus.core.config import Settings

#: What ``--listen unix://`` (no path) means: the managed daemon's control socket under CODEX_HOME.
CONTROL_SOCKET = Path("app-server-control") / "app-server-control.sock"
NO_APP_SERVER = (
    "no Codex app-server runs this session's thread (the adapter was not started by `codex app-server`, "
    "and AGENTBUS_CODEX_SOCKET is unset)"
)


@dataclass(frozen=True)
class Found:
    """The app-server socket, or None, and a sentence saying how it was found (or why not)."""

    socket: Path | None
    reason: str


def find_app_server(settings: Settings, parent: int | None = None) -> Found:
    """The socket of the app-server this adapter's thread runs on."""
    if settings.codex_socket is not None:
        return Found(settings.codex_socket, f"AGENTBUS_CODEX_SOCKET names {settings.codex_socket}")
    pid = os.getppid() if parent is None else parent
    info = process_info(pid)
    if info is None:
        return Found(None, NO_APP_SERVER)
    argv, _ = info
    if "app-server" not in argv:
        return Found(None, NO_APP_SERVER)
    listen = _listen_address(argv)
    if listen is None or not listen.startswith("unix://"):
        return Found(
            None, f"the Codex app-server that started this adapter listens on {listen or 'stdio'}, not a socket"
        )
    path = listen[len("unix://") :]
    if path:
        return Found(Path(path), f"the Codex app-server that started this adapter ({path})")
    socket = codex_home(pid) / CONTROL_SOCKET
    return Found(socket, f"the Codex app-server daemon that started this adapter ({socket})")


def _listen_address(argv: list[str]) -> str | None:
    for index, arg in enumerate(argv):
        if arg == "--listen" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--listen="):
            return arg.partition("=")[2]
    return None


def codex_home(pid: int) -> Path:
    """CODEX_HOME as process ``pid`` sees it (Codex keeps CODEX_* out of its servers' environment)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        environ = []
    for entry in environ:
        key, _, value = entry.partition(b"=")
        if key == b"CODEX_HOME" and value:
            return Path(os.fsdecode(value))
    return Path(os.environ.get("HOME") or os.path.expanduser("~")) / ".codex"


def codex_plan(settings: Settings) -> Plan:
    """The codex adapter's doors: the app-server door when one runs this session's thread, else pull."""
    choice = setting(settings.push)
    if choice == "off":
        return Plan((), "AGENTBUS_PUSH is off, so messages are not pushed to this session")
    if choice not in ("auto", "on", APP_SERVER):
        return Plan((), f"AGENTBUS_PUSH is {choice}, a door of another client; Codex offers the app-server door")
    found = find_app_server(settings)
    if found.socket is None:
        return Plan((), found.reason)
    return Plan((APP_SERVER,), found.reason)
