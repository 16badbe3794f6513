"""A recording relay between a real MCP client and a real stdio server: every line both ways, and signals.

Claude Code is told to start ``python -m fakeclaude.live.tap LOG -- SERVER COMMAND...``; the tap starts
the server, relays stdin and stdout byte for byte (stderr is inherited) and appends one JSON object
per event to LOG: ``{"t": seconds since the tap started, "dir": "in" | "out", "line": ...}`` for
each line, ``{"t", "signal": "SIGINT"}`` for each signal the client sends (forwarded to the server),
``{"t", "wall", "env": [names]}`` once (the wall-clock start; the names of the variables the client
set, no values), and
``{"t", "exit": code}`` when the server is gone. A client that SIGKILLs the tap leaves a log without
an ``exit`` record. Standard library only: it must start fast and change nothing it relays.
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


def main(argv: list[str]) -> int:
    if "--" not in argv or argv.index("--") != 1:
        sys.stderr.write("usage: python -m fakeclaude.live.tap LOG -- COMMAND...\n")
        return 2
    log_path, command = argv[0], argv[2:]
    started = time.monotonic()
    lock = threading.Lock()
    log = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - closed at exit

    def record(entry: dict[str, object]) -> None:
        entry = {"t": round(time.monotonic() - started, 6), **entry}
        with lock:
            log.write(json.dumps(entry, ensure_ascii=False) + "\n")

    record({"wall": time.time(), "env": sorted(name for name in os.environ if name.startswith(ENV_PREFIXES))})
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None

    def forward(signum: int, _frame: object) -> None:
        record({"signal": signal.Signals(signum).name})
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
    log.close()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
