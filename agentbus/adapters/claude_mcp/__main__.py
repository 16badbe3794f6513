"""Entry for ``python -m agentbus.adapters.claude_mcp`` (the manifest's command)."""

import logging
import os
import sys

from agentbus.adapters.claude_mcp.server import main

code = main()
# Everything is released by now (peer unregistered, bus closed, wire flushed). Tearing down the
# interpreter's heap would add ~0.2 s to every exit, so leave at once.
logging.shutdown()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
