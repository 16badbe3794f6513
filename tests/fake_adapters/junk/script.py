"""fakeclaude test adapter 'junk': prints junk lines on stdout (the protocol stream)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fakemcp import FakeServer

FakeServer(junk_stdout=True).run()
