"""Broken adapter: claude-mcp whose meta.ts is local ISO time without the `Z` (breaks DELIV-2)."""

import sys
from datetime import datetime

from agentbus.adapters.claude_mcp.server import main
from agentbus.core import envelope


def local_iso(epoch_seconds: float) -> str:
    """What datetime gives by default: no zone, microseconds."""
    return datetime.fromtimestamp(epoch_seconds).isoformat()  # the bug itself: no zone


envelope.iso_utc = local_iso

if __name__ == "__main__":
    sys.exit(main())
