"""Broken adapter: claude-mcp with a stray non-daemon thread that keeps it alive at exit (breaks LIFE-1)."""

import sys
import threading

from agentbus.adapters.claude_mcp.server import main

if __name__ == "__main__":
    threading.Thread(target=threading.Event().wait, name="forgotten-worker", daemon=False).start()
    sys.exit(main())
