"""Which code answers which method: one table for requests, one for notifications, one fallback.

A request's handler returns its result (or raises ``wire.RpcError``); a method with no handler gets
"method not found" (so does ``server/discover``: Claude Code 2.1.331 then falls back to
``initialize``, see SPEC MCP-2). Inline handlers are answered where the line was read; concurrent
ones (tool calls, which wait on the bus) run as tasks so a burst of sends is committed together.
Notifications without a handler are ignored, as JSON-RPC allows. Standard library only.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from agentbus.adapters.claude_mcp import wire

log = logging.getLogger(__name__)

Result = dict[str, Any]
InlineHandler = Callable[[wire.Params], Result]
ConcurrentHandler = Callable[[wire.Params], Awaitable[Result]]
NotificationHandler = Callable[[wire.Params], None]


class Router:
    """``{method: handler}``; ``answer_inline`` / ``answer_concurrent`` give the answer line of a request."""

    def __init__(self) -> None:
        self.inline: dict[str, InlineHandler] = {}
        self.concurrent: dict[str, ConcurrentHandler] = {}
        self.notifications: dict[str, NotificationHandler] = {}

    def is_concurrent(self, request: wire.Request) -> bool:
        return request.method in self.concurrent

    def answer_inline(self, request: wire.Request) -> bytes:
        """The answer to a request that is not concurrent (the fallback: method not found)."""
        handler = self.inline.get(request.method)
        if handler is None:
            return wire.error_line(request.id, wire.METHOD_NOT_FOUND, "Method not found", request.method)
        try:
            return wire.result_line(request.id, handler(request.params))
        except wire.RpcError as exc:
            return wire.error_line(request.id, exc.code, exc.message)

    async def answer_concurrent(self, request: wire.Request) -> bytes:
        handler = self.concurrent[request.method]
        try:
            return wire.result_line(request.id, await handler(request.params))
        except wire.RpcError as exc:
            return wire.error_line(request.id, exc.code, exc.message)
        except Exception as exc:  # a bug must cost one answer, not the session
            log.exception("%s failed", request.method)
            return wire.error_line(request.id, wire.INTERNAL_ERROR, f"Internal error: {type(exc).__name__}")

    def notify(self, notification: wire.Notification) -> None:
        handler = self.notifications.get(notification.method)
        if handler is not None:
            handler(notification.params)
