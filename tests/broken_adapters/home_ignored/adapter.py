"""Broken adapter: claude-mcp that ignores AGENTBUS_HOME and keeps its bus under HOME (breaks LIFE-2)."""

import os
import sys

from agentbus.adapters.claude_mcp.server import main

if __name__ == "__main__":
    os.environ.pop("AGENTBUS_HOME", None)
    sys.exit(main())
