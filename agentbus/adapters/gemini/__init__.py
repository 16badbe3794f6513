"""The gemini adapter: the agentbus MCP server for Gemini CLI, delivering at the session's boundaries through its hooks.

The tools are the claude-mcp adapter's (one server, one core). Gemini CLI shows no MCP notification
to its model and opens no socket into its session, so a message reaches the model through Gemini's
hooks: a hook command (hook.py) that Gemini runs after each tool call, at the end of a turn, when a
prompt is submitted and when a session starts asks this session's adapter for its mail, and hands
it to Gemini in the hook's answer (boundary.py). Run it with ``python -m agentbus.adapters.gemini``.
"""

ADAPTER_ID = "gemini"
