"""agentbus: a local message bus that pushes messages into live AI agent sessions."""

__version__ = "0.1.0"
