"""Process entry of the gemini adapter: the claude-mcp server with the gemini id and the hook door."""

import os
from pathlib import Path
from typing import TYPE_CHECKING

from agentbus.adapters import doors
from agentbus.adapters.claude_mcp import server
from agentbus.adapters.gemini import ADAPTER_ID
from agentbus.adapters.gemini.settings import installed_hooks
from agentbus.adapters.runtime import Runtime
from agentbus.core.config import Settings

if TYPE_CHECKING:
    from agentbus.adapters.claude_mcp.app import ClientSession
    from agentbus.adapters.claude_mcp.transport import LineWriter

NO_HOOK = (
    "no Gemini settings file runs the agentbus hook (`agentbus enable gemini` adds it), so no boundary "
    "of this session asks for its mail"
)


def gemini_plan(settings: Settings) -> doors.Plan:
    """The gemini adapter's doors: the hook door when Gemini's settings run the agentbus hook, else pull."""
    choice = doors.setting(settings.push)
    if choice == "off":
        return doors.Plan((), "AGENTBUS_PUSH is off, so messages are not pushed to this session")
    if choice not in ("auto", "on", doors.HOOK):
        return doors.Plan((), f"AGENTBUS_PUSH is {choice}, a door of another client; Gemini CLI offers the hook door")
    if choice in ("on", doors.HOOK):
        return doors.Plan(
            (doors.HOOK,), f"AGENTBUS_PUSH is {choice}: Gemini CLI's hooks, at the session's next boundary"
        )
    hooked = installed_hooks(os.environ, Path.cwd())
    if not hooked:
        return doors.Plan((), NO_HOOK)
    files = ", ".join(str(path) for path in hooked)
    return doors.Plan((doors.HOOK,), f"Gemini CLI's hooks ({files}): at the session's next boundary")


async def _open_hook_door(session: "ClientSession", writer: "LineWriter") -> None:
    # Imported when the doors open, after the initialize answer (SPEC LIFE-4), as codex's door.
    from agentbus.adapters.gemini.boundary import open_hook_door

    await open_hook_door(session, writer)


#: Gemini CLI: the hook door when its settings run the agentbus hook, else pull.
GEMINI = Runtime(ADAPTER_ID, gemini_plan, _open_hook_door)


def main() -> int:
    return server.main(GEMINI)
