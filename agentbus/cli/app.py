"""The typer application, and the guard that turns expected errors into one line and an exit code."""

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from agentbus import __version__
from agentbus.cli.claude_config import ConfigError
from agentbus.cli.output import Output
from agentbus.core.errors import BodyTooLarge, BusError, InvalidBody, InvalidName, SelfSend, UnknownMessage
from agentbus.manifest import ManifestError

# Exit codes: 0 ok, 1 the operation failed (or doctor found a failure), 2 the input was wrong.
EXIT_FAILED = 1
EXIT_USAGE = 2

HELP = """agentbus: a local message bus that pushes messages into live Claude Code sessions.

Quick start: agentbus enable claude-mcp, then start two sessions with agentbus launch claude-mcp NAME.
"""

app = typer.Typer(
    name="agentbus",
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

F = TypeVar("F", bound=Callable[..., Any])

_CALLER_ERRORS = (InvalidName, SelfSend, BodyTooLarge, InvalidBody, UnknownMessage, ManifestError)


class CliError(Exception):
    """An expected failure of a command: printed as one line, exits with ``code``."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def exit_code(exc: BaseException) -> int:
    if isinstance(exc, CliError):
        return exc.code
    if isinstance(exc, _CALLER_ERRORS):
        return EXIT_USAGE
    if isinstance(exc, ValueError) and not isinstance(exc, ManifestError):
        return EXIT_USAGE  # a bad AGENTBUS_* setting
    return EXIT_FAILED


def _scrub(message: str) -> str:
    """Hide the password of AGENTBUS_DB_URL if an error message repeats the URL or the password."""
    from agentbus.cli.busfiles import scrub
    from agentbus.core.config import Settings

    try:
        settings = Settings.from_env()
    except ValueError:  # the error is a bad setting, and those never repeat the URL
        return message
    return scrub(message, settings)


def command(name: str | None = None, **kwargs: Any) -> Callable[[F], F]:
    """``app.command`` whose errors (bus, manifest, config, settings) print one line, never a traceback."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def guarded(*args: Any, **kw: Any) -> Any:
            try:
                return func(*args, **kw)
            except (BusError, ManifestError, ConfigError, CliError, ValueError, OSError, ImportError) as exc:
                Output().error(_scrub(str(exc) or type(exc).__name__))
                raise typer.Exit(exit_code(exc)) from None
            except KeyboardInterrupt:
                raise typer.Exit(130) from None

        app.command(name, **kwargs)(guarded)
        return func

    return decorate


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agentbus {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """agentbus: a local message bus that pushes messages into live Claude Code sessions."""
