"""Entry for ``python -m agentbus.adapters.gemini`` (the manifest's command)."""

import logging
import os
import sys

from agentbus.adapters.gemini.server import main

code = main()
logging.shutdown()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)  # as claude-mcp's entry: everything is released, skip the interpreter's teardown
