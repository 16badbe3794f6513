"""Exceptions raised by fakeclaude sessions."""

from typing import Any


class FakeClaudeError(Exception):
    """Base class of every fakeclaude error."""


class AdapterExited(FakeClaudeError):
    """The adapter closed its stdout (or its stdin broke) while fakeclaude still needed it."""


class RequestTimeout(FakeClaudeError, TimeoutError):
    """No response to a request within its deadline."""


class ChannelTimeout(FakeClaudeError, TimeoutError):
    """No matching channel event within the deadline; the message lists what did arrive."""


class HandshakeError(FakeClaudeError):
    """The opening (server/discover and/or initialize) failed."""


class JsonRpcError(FakeClaudeError):
    """The adapter answered a request with a JSON-RPC error object."""

    def __init__(self, method: str, error: Any, response: dict[str, Any]) -> None:
        self.method = method
        self.error = error
        self.response = response
        if isinstance(error, dict):
            self.code: Any = error.get("code")
            self.message: Any = error.get("message")
            self.data: Any = error.get("data")
        else:
            self.code = self.message = self.data = None
        super().__init__(f"{method} failed: JSON-RPC error {self.code}: {self.message}")
