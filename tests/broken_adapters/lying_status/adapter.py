"""Broken adapter: claude-mcp whose message_status calls a message received and seen once it was pushed
(breaks RCPT-2: a rung stamped, as the sender is told, with no record of the client to prove it)."""

import sys
from typing import Any

from agentbus.adapters.claude_mcp import tools
from agentbus.adapters.claude_mcp.server import main
from agentbus.core.records import Receipt

honest_fields = tools.receipt_fields


def optimistic_fields(receipt: Receipt) -> dict[str, Any]:
    """What a sender would like to hear: pushed means seen."""
    fields = honest_fields(receipt)
    if fields["pushed"] is not None:
        fields["received"] = fields["received"] or fields["pushed"]
        fields["seen"] = fields["seen"] or fields["pushed"]
        fields["state"] = "seen"
    return fields


tools.receipt_fields = optimistic_fields

if __name__ == "__main__":
    sys.exit(main())
