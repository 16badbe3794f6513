"""Subprocess: drain NAME's mailbox like an adapter, logging each pushed id to LOG.

Modes: ``run`` drains until the stop file exists and the mailbox is empty;
``hang`` claims one batch, logs it as claimed, then hangs (the test SIGKILLs it).
"""

import os
import sys
import time
from pathlib import Path

from agentbus.core import Bus, Settings
from agentbus.core.bus import claimer_id


def append(log: Path, line: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def main() -> None:
    mode, name, log, stop = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
    bus = Bus.open(Settings.from_env())
    claimer = claimer_id(f"drainer-{os.getpid()}")
    if mode == "hang":
        batch = bus.claim(name, claimer, limit=int(os.environ.get("BATCH", "10")))
        append(log, "claimed " + " ".join(str(e.id) for e in batch))
        time.sleep(3600)
        return
    while True:
        batch = bus.claim(name, claimer, limit=20)
        for envelope in batch:
            append(log, f"{envelope.id} {os.getpid()}")
            bus.mark_delivered([envelope.id])
        if not batch:
            if stop.exists() and not bus.pending(name):
                return
            time.sleep(0.002)


if __name__ == "__main__":
    main()
