"""A recording relay between a real MCP client and a real stdio server: every line both ways, and signals.

Claude Code is told to start ``python -m fakeclaude.live.tap LOG [--stubborn] -- SERVER COMMAND...``;
the tap starts the server, relays stdin and stdout byte for byte (stderr is inherited) and appends
one JSON object per event to LOG: ``{"t": seconds since the tap started, "dir": "in" | "out", "line":
...}`` for each line, ``{"t", "signal": "SIGINT"}`` for each signal the client sends (forwarded to
the server), ``{"t", "wall", "mono", "pid", "env": [names]}`` once (the start on the wall clock and
on CLOCK_MONOTONIC, the tap's pid, the names of the variables the client set, no values), and
``{"t", "exit": code}`` when the server is gone. A client that SIGKILLs the tap leaves a log without
a ``tap_exit`` record. Standard library only: it must start fast and change nothing it relays.

``--stubborn`` makes a server that will not go: signals are recorded but neither forwarded nor
obeyed, and the tap stays after its server has exited (on stdin EOF), so the client has to escalate
to SIGKILL (which cannot be caught: watch the pid from outside). It gives up by itself
``STUBBORN_LIMIT`` seconds after the first signal or EOF, so it can never outlive a test by long.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

#: Variables worth naming in a profile (their values are private: session ids, tokens).
ENV_PREFIXES = ("CLAUDE", "AI_AGENT", "ANTHROPIC_", "MCP_", "AGENTBUS_")
STUBBORN_LIMIT = 20.0


def main(argv: list[str]) -> int:
    split = argv.index("--") if "--" in argv else -1
    options = argv[1:split] if split > 0 else []
    if split < 1 or set(options) - {"--stubborn"} or split == len(argv) - 1:
        sys.stderr.write("usage: python -m fakeclaude.live.tap LOG [--stubborn] -- COMMAND...\n")
        return 2
    log_path, command, stubborn = argv[0], argv[split + 1 :], "--stubborn" in options
    let_go = threading.Event()
    started = time.monotonic()
    lock = threading.Lock()
    log = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - closed at exit

    def record(entry: dict[str, object]) -> None:
        entry = {"t": round(time.monotonic() - started, 6), **entry}
        with lock:
            log.write(json.dumps(entry, ensure_ascii=False) + "\n")

    names = sorted(name for name in os.environ if name.startswith(ENV_PREFIXES))
    record({"wall": time.time(), "mono": time.monotonic(), "pid": os.getpid(), "stubborn": stubborn, "env": names})
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdin is not None
    assert child.stdout is not None

    def forward(signum: int, _frame: object) -> None:
        record({"signal": signal.Signals(signum).name, **({"ignored": True} if stubborn else {})})
        if stubborn:
            let_go.set()
            return
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)

    def relay(source: int, sink: int, direction: str, close_sink: bool) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(source, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            try:
                os.write(sink, chunk)
            except OSError:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                record({"dir": direction, "line": line.decode("utf-8", "replace")})
        if pending:
            record({"dir": direction, "line": pending.decode("utf-8", "replace"), "partial": True})
        record({"eof": direction})
        if direction == "in":
            let_go.set()
        if close_sink:
            with contextlib.suppress(OSError):
                os.close(sink)

    inbound = threading.Thread(target=relay, args=(0, child.stdin.fileno(), "in", True), daemon=True)
    outbound = threading.Thread(target=relay, args=(child.stdout.fileno(), 1, "out", False), daemon=True)
    inbound.start()
    outbound.start()
    code = child.wait()
    outbound.join(timeout=2)
    record({"exit": code})
    if stubborn:  # stay until SIGKILL, or give up STUBBORN_LIMIT seconds after being told to go
        let_go.wait(3 * STUBBORN_LIMIT)
        time.sleep(STUBBORN_LIMIT)
        record({"gave_up": True})
    record({"tap_exit": code})
    log.close()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
