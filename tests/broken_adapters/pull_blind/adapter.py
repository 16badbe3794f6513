"""Broken adapter: claude-mcp whose list_peers says every peer receives by push, pull-only ones too
(breaks PRES-6, a SHOULD rule: a warning, a failure under --agentbus-strict)."""

import sys

from agentbus.adapters.claude_mcp import tools
from agentbus.adapters.claude_mcp.server import main
from agentbus.core.records import Peer


def always_push(peer: Peer) -> str:
    return "receives by push"


tools._delivery_mode = always_push

if __name__ == "__main__":
    sys.exit(main())
