"""The claude-mcp adapter: an MCP stdio server that pushes agentbus messages into Claude Code sessions.

Run it with ``python -m agentbus.adapters.claude_mcp`` (see module.json). Importing this package is
cheap: the MCP SDK and the bus are imported only when the server starts.
"""

ADAPTER_ID = "claude-mcp"
