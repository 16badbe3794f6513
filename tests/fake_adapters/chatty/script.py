"""fakeclaude test adapter 'chatty': writes 256 KiB to stderr on every message."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fakemcp import FakeServer

FakeServer(chatty_stderr=256 * 1024).run()
