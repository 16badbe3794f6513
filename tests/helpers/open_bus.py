"""Subprocess: open (and so create/migrate) the bus once the start file exists; register NAME."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from barrier import wait_for_start

from agentbus.core import Bus, Settings


def main() -> None:
    start, name = sys.argv[1], sys.argv[2]
    wait_for_start(Path(start))
    bus = Bus.open(Settings.from_env())
    bus.register(name, session_id=name, adapter="test")
    print(bus.schema_revision, flush=True)


if __name__ == "__main__":
    main()
