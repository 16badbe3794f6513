"""fakeclaude test adapter 'discover_ok': answers server/discover successfully, without the channel capability."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fakemcp import FakeServer

FakeServer(discover_ok=True).run()
