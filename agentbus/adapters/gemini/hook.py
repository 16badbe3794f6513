"""The hook command Gemini CLI runs at a session's boundaries: it asks the session's adapter for its mail.

``agentbus enable gemini`` registers ``python -m agentbus.adapters.gemini.hook`` for the events
SessionStart, BeforeAgent, AfterTool and AfterAgent. Gemini runs it through its shell with the
event's JSON on stdin and reads one JSON object from its stdout. The adapter of the session (the
MCP server the same Gemini process started) listens on a unix socket named after that Gemini
process's pid; the hook finds it by walking up its own ancestors. It sends the event, prints the
answer the adapter built (``{}`` when there is no mail), and only then tells the adapter it printed
it: a hook that dies first leaves the mail pending for the next boundary.

Standard library only, and nothing else of agentbus: Gemini waits for this process at every tool
call, so it must start in tens of milliseconds. With no adapter to ask (the server is not up yet,
or agentbus is not this session's), it answers ``{}`` and exits 0: a hook never blocks Gemini.
"""

import hashlib
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

#: A unix socket path longer than this (108 bytes on Linux, 104 on macOS, with the NUL) cannot be bound.
MAX_SOCKET_PATH = 100
#: The adapter answers within this, or the hook answers ``{}`` (mail stays pending).
ANSWER_TIMEOUT_SECONDS = 5.0
#: At SessionStart Gemini may not have started its MCP servers yet: the socket gets this long to appear.
SESSION_START_WAIT_SECONDS = 3.0
#: How far up the process tree the Gemini process may be (its shell, a wrapper script, node).
ANCESTORS_SEARCHED = 6
#: The events whose answer can carry mail to the model.
EVENTS = ("SessionStart", "BeforeAgent", "AfterTool", "AfterAgent")


def bus_home(env: "os._Environ[str] | dict[str, str]") -> Path:
    """AGENTBUS_HOME as the adapter reads it (unset or blank: ``~/.agentbus``)."""
    return Path((env.get("AGENTBUS_HOME") or "").strip() or "~/.agentbus").expanduser()


def runtime_dir(home: Path) -> Path:
    """Where the adapters of the bus at ``home`` open their boundary sockets: ``home/run``, or a
    private directory under the temp dir when that path would be too long for a unix socket."""
    candidate = home / "run"
    if len(str(candidate)) + len("/gemini-4194304.sock") <= MAX_SOCKET_PATH:
        return candidate
    digest = hashlib.sha256(str(home).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"agentbus-{os.getuid()}-{digest}"


def socket_path(home: Path, client_pid: int | str) -> Path:
    """The socket of the adapter serving the Gemini process ``client_pid``."""
    return runtime_dir(home) / f"gemini-{client_pid}.sock"


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def find_socket(home: Path, client: str = "") -> Path | None:
    """The socket of the adapter whose Gemini process is one of this process's ancestors (or ``client``,
    AGENTBUS_GEMINI_PID, when one process runs several adapters and their hooks)."""
    if client:
        path = socket_path(home, client)
        return path if path.exists() else None
    pid = os.getppid()
    for _ in range(ANCESTORS_SEARCHED):
        if pid <= 1:
            return None
        path = socket_path(home, pid)
        if path.exists():
            return path
        pid = _parent(pid)
    return None


def _ask(path: Path, event: dict[str, object]) -> tuple[socket.socket, dict[str, object]]:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(ANSWER_TIMEOUT_SECONDS)
    conn.connect(str(path))
    conn.sendall((json.dumps(event) + "\n").encode())
    reader = conn.makefile("rb")
    line = reader.readline()
    answer = json.loads(line)
    if not isinstance(answer, dict) or not isinstance(answer.get("answer"), dict):
        raise ValueError(f"the adapter answered {line[:200]!r}")
    return conn, answer


def run(stdin: str, env: "os._Environ[str] | dict[str, str]") -> int:
    """Answer one hook call: print Gemini's JSON on stdout, report on stderr; always exit 0."""
    try:
        event = json.loads(stdin or "{}")
    except ValueError:
        event = {}
    name = event.get("hook_event_name") if isinstance(event, dict) else None
    if name not in EVENTS:
        print("{}")
        return 0
    home = bus_home(env)
    client = (env.get("AGENTBUS_GEMINI_PID") or "").strip()
    path = find_socket(home, client)
    deadline = time.monotonic() + (SESSION_START_WAIT_SECONDS if name == "SessionStart" else 0)
    while path is None and time.monotonic() < deadline:
        time.sleep(0.05)
        path = find_socket(home, client)
    if path is None:
        print("{}")
        return 0
    request = {key: event.get(key) for key in ("hook_event_name", "session_id", "transcript_path", "stop_hook_active")}
    try:
        conn, answer = _ask(path, request)
    except (OSError, ValueError) as exc:
        print(f"agentbus hook: no mail from the adapter at {path}: {exc}", file=sys.stderr)
        print("{}")
        return 0
    with conn:
        sys.stdout.write(json.dumps(answer["answer"]) + "\n")
        sys.stdout.flush()
        if answer.get("ids"):
            try:
                conn.sendall(b'{"printed": true}\n')
            except OSError as exc:
                print(f"agentbus hook: could not confirm to the adapter: {exc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.stdin.read(), os.environ))
