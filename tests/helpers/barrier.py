"""A start line for many processes: each waits until a file exists, so they begin together."""

import time
from pathlib import Path


def wait_for_start(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"start file {path} never appeared")
        time.sleep(0.002)
