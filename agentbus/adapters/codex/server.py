"""Process entry of the codex adapter: the claude-mcp server with the codex id and the app-server push path."""

from typing import TYPE_CHECKING

from agentbus.adapters.claude_mcp import server
from agentbus.adapters.codex import ADAPTER_ID

if TYPE_CHECKING:
    from agentbus.adapters.claude_mcp.app import ClientSession
    from agentbus.adapters.claude_mcp.transport import LineWriter


async def _open_app_server(session: "ClientSession", writer: "LineWriter") -> None:
    # Imported when the push opens, after the initialize answer: the delivery module brings anyio and
    # the app's modules, which a start must not wait for (SPEC LIFE-4).
    from agentbus.adapters.codex.delivery import open_app_server

    await open_app_server(session, writer)


def main() -> int:
    return server.main(adapter=ADAPTER_ID, push=_open_app_server)
