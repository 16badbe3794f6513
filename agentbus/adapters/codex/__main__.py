"""Entry for ``python -m agentbus.adapters.codex`` (the manifest's command)."""

import logging
import os
import sys

from agentbus.adapters.codex.server import main

code = main()
logging.shutdown()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)  # as claude-mcp's entry: everything is released, skip the interpreter's teardown
