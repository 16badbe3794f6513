"""Process entry of the codex adapter: the claude-mcp server with the codex id and the app-server door."""

from typing import TYPE_CHECKING

from agentbus.adapters.claude_mcp import server
from agentbus.adapters.codex import ADAPTER_ID
from agentbus.adapters.codex.discovery import codex_plan
from agentbus.adapters.runtime import Runtime

if TYPE_CHECKING:
    from agentbus.adapters.claude_mcp.app import ClientSession
    from agentbus.adapters.claude_mcp.transport import LineWriter


async def _open_app_server(session: "ClientSession", writer: "LineWriter") -> None:
    # Imported when the doors open, after the initialize answer: the delivery module brings anyio and
    # the app's modules, which a start must not wait for (SPEC LIFE-4).
    from agentbus.adapters.codex.delivery import open_app_server

    await open_app_server(session, writer)


#: Codex: the app-server door on the app-server that runs this thread, else pull.
CODEX = Runtime(ADAPTER_ID, codex_plan, _open_app_server)


def main() -> int:
    return server.main(CODEX)
