"""The codex adapter: the agentbus MCP server for Codex CLI, pushing messages into its live thread via the app-server.

The tools are the claude-mcp adapter's (one server, one core); only the push path differs: Codex
never shows MCP notifications to its model, so each message becomes user input of the session's
thread through ``codex app-server`` (delivery.py). Run it with ``python -m agentbus.adapters.codex``.
"""

ADAPTER_ID = "codex"
