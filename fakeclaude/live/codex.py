"""The real Codex, offline: a scratch ``~/.codex`` for it, its app-server on a private socket, and a client of it.

``CodexHome.create(root, bus_home, model_url)`` writes ``root/home/.codex/config.toml``: the
loopback Responses API (``FakeResponses``) as the model provider, and the codex adapter as MCP
server ``agentbus`` with its AGENTBUS_* variables forwarded (``env_vars``: Codex passes a server
only a whitelist of the environment) and its tools approved (``default_tools_approval_mode``).
``AppServer`` runs ``codex app-server --listen unix://SOCKET``; ``AppServerClient`` speaks its
JSON-RPC over the WebSocket on that socket, as the TUI (``codex --remote``) does. Facts: docs/codex.md.
"""

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentbus.cli.codex_config import forwarded_variables
from fakeclaude.waiting import wait_until

#: The variable whose value the fake provider sends as its API key (any value will do).
KEY_VARIABLE = "AGENTBUS_FAKE_OPENAI_KEY"


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


@dataclass
class CodexHome:
    """The HOME of one scratch Codex user and the bus its agentbus server joins."""

    root: Path
    home: Path
    project: Path
    bus_home: Path

    @classmethod
    def create(cls, root: Path, bus_home: Path, model_url: str, python: str) -> "CodexHome":
        root = Path(root).resolve()
        made = cls(root, root / "home", root / "project", Path(bus_home).resolve())
        (made.home / ".codex").mkdir(parents=True, exist_ok=True)
        made.project.mkdir(parents=True, exist_ok=True)
        variables = ", ".join(_toml_string(name) for name in forwarded_variables())
        made.config_file.write_text(
            f"""model = "fake-model"
model_provider = "fake"

[model_providers.fake]
name = "fake"
base_url = {_toml_string(model_url)}
wire_api = "responses"
env_key = "{KEY_VARIABLE}"

[mcp_servers.agentbus]
command = {_toml_string(python)}
args = ["-m", "agentbus.adapters.codex"]
env_vars = [{variables}]
default_tools_approval_mode = "approve"
"""
        )
        return made

    @property
    def config_file(self) -> Path:
        return self.home / ".codex" / "config.toml"

    def env(self, name: str, socket: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {key: os.environ[key] for key in ("PATH", "LANG", "TMPDIR") if key in os.environ}
        env.update(
            HOME=str(self.home),
            AGENTBUS_HOME=str(self.bus_home),
            AGENTBUS_NAME=name,
            AGENTBUS_CODEX_SOCKET=str(socket),
            **{KEY_VARIABLE: "fake"},
        )
        env.update(extra or {})
        return env


def short_socket_dir() -> Path:
    """A directory for a Unix socket whose path fits the 107 bytes AF_UNIX allows (pytest's do not)."""
    return Path(tempfile.mkdtemp(prefix="agentbus-codex-", dir="/tmp"))


class AppServer:
    """``codex app-server --listen unix://SOCKET`` for one session, with its stderr kept in a file."""

    def __init__(self, codex: Path, home: CodexHome, name: str, env: dict[str, str] | None = None) -> None:
        self.codex = Path(codex)
        self.home = home
        self.name = name
        self.socket_dir = short_socket_dir()
        self.socket = self.socket_dir / "app-server.sock"
        self.env = home.env(name, self.socket, env)
        self.stderr_path = home.root / f"app-server-{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> "AppServer":
        with open(self.stderr_path, "wb") as stderr:
            self.process = process = subprocess.Popen(
                [str(self.codex), "app-server", "--listen", f"unix://{self.socket}"],
                cwd=self.home.project,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        wait_until(lambda: self.socket.exists() or process.poll() is not None, timeout, "the app-server socket")
        if process.poll() is not None:
            raise RuntimeError(f"codex app-server exited {process.returncode}: {self.stderr()[-1500:]}")
        return self

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def close(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        with contextlib.suppress(OSError):
            self.socket.unlink()  # Codex may have removed it itself
        with contextlib.suppress(OSError):
            self.socket_dir.rmdir()


class AppServerClient:
    """A synchronous JSON-RPC client of the app-server (the TUI's side: it starts the session's thread)."""

    def __init__(self, socket: Path, name: str = "fakeclaude", timeout: float = 30.0) -> None:
        from websockets.sync.client import unix_connect

        self.timeout = timeout
        self._connection = contextlib.ExitStack()  # websockets 17 wants its connection used as a context
        self._ws = self._connection.enter_context(unix_connect(str(socket), "ws://localhost/"))
        self._ids = iter(range(1, 1 << 62))
        self.notifications: list[dict[str, Any]] = []
        self.call("initialize", {"clientInfo": {"name": name, "version": "1"}})
        self._ws.send(json.dumps({"jsonrpc": "2.0", "method": "initialized"}))

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        request_id = next(self._ids)
        self._ws.send(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + self.timeout
        while True:
            message = json.loads(self._ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if message.get("id") == request_id and "method" not in message:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result") or {})
            self.notifications.append(message)

    def start_thread(self, cwd: Path) -> str:
        """``thread/start`` (what the TUI does when it opens): the thread id."""
        return str(self.call("thread/start", {"cwd": str(cwd)})["thread"]["id"])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._connection.close()
