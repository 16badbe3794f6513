"""Entry for ``python -m agentbus.adapters.claude_mcp``."""

from agentbus.adapters.claude_mcp.server import main

raise SystemExit(main())
