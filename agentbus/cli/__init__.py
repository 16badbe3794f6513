"""The ``agentbus`` command line: module management, doctor, human messaging commands and the demo."""

from agentbus.cli import demo, doctor, manage, messages, migrate  # noqa: F401  (each module registers its commands)
from agentbus.cli.app import app
from agentbus.cli.watch import command as watch_command  # noqa: F401

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (``agentbus``)."""
    app(args=argv, prog_name="agentbus")
