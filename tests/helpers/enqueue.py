"""Subprocess: enqueue COUNT messages from SENDER to RECIPIENT, once the start file exists."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from barrier import wait_for_start

from agentbus.core import Bus, Settings


def main() -> None:
    start, sender, recipient, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    bus = Bus.open(Settings.from_env())
    wait_for_start(Path(start))
    for i in range(count):
        bus.send(sender, recipient, f"{sender}:{i}")
    print("sent", count, flush=True)


if __name__ == "__main__":
    main()
