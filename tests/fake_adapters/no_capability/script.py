"""fakeclaude test adapter 'no_capability': never declares experimental claude/channel."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fakemcp import FakeServer

FakeServer(channel_capability=False).run()
