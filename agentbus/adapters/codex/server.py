"""Process entry of the codex adapter: the claude-mcp server with the codex id and the app-server push path."""

from agentbus.adapters.claude_mcp import server
from agentbus.adapters.codex import ADAPTER_ID


def main() -> int:
    from agentbus.adapters.codex.delivery import open_app_server

    return server.main(adapter=ADAPTER_ID, push=open_app_server)
