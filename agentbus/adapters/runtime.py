"""What differs between the runtimes one adapter server serves: its id, the doors it plans, how it opens them."""

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentbus.adapters.doors import Plan
from agentbus.core.config import Settings

if TYPE_CHECKING:
    from agentbus.adapters.claude_mcp.app import ClientSession
    from agentbus.adapters.claude_mcp.transport import LineWriter


@dataclass(frozen=True)
class Runtime:
    """``adapter``: the id the peer row names; ``plan``: the doors a session of it opens (read before
    the event loop starts: it must stay light); ``open``: opens them once the session serves its client."""

    adapter: str
    plan: Callable[[Settings], Plan]
    open: "Callable[[ClientSession, LineWriter], Coroutine[Any, Any, None]]"
