"""``agentbus watch``: a live terminal view of the bus (sessions, the conversation and its receipts, a compose line)."""
