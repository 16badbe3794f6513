"""Broken adapter: claude-mcp that refuses a tools/call carrying `_meta`, as a strict validator would (breaks MCP-9)."""

import sys

from agentbus.adapters.claude_mcp import wire
from agentbus.adapters.claude_mcp.router import Router

answer_concurrent = Router.answer_concurrent


async def refuse_meta(self: Router, request: wire.Request) -> bytes:
    """Every call Claude Code makes carries _meta: this adapter answers none of them as it should."""
    if request.method == "tools/call" and isinstance(request.params, dict) and "_meta" in request.params:
        result = {"content": [{"type": "text", "text": "unexpected field: _meta"}], "isError": True}
        return wire.result_line(request.id, result)
    return await answer_concurrent(self, request)


Router.answer_concurrent = refuse_meta  # type: ignore[method-assign]

if __name__ == "__main__":
    from agentbus.adapters.claude_mcp.server import main

    sys.exit(main())
