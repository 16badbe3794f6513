"""fakeclaude test adapter 'bad_meta': sends a number as a channel meta value."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fakemcp import FakeServer

FakeServer(numeric_meta=True).run()
