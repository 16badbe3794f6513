"""fakeclaude test adapter 'no_exit': never exits after stdin EOF and ignores SIGTERM."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fakemcp import FakeServer

FakeServer(ignore_eof=True).run()
