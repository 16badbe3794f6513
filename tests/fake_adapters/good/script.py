"""fakeclaude test adapter 'good': a well-behaved minimal channel server."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fakemcp import FakeServer

FakeServer().run()
