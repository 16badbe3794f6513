"""The ``agentbus watch`` command: open the live view on this bus (Textual is imported only here)."""

import typer

from agentbus.cli.app import command
from agentbus.cli.messages import default_sender, open_bus
from agentbus.core.config import Settings
from agentbus.core.names import validate_name


@command("watch")
def watch(
    sender: str | None = typer.Option(None, "--as", help="Send from the compose line as this name (default: cli)."),
) -> None:
    """A live view of the bus: sessions, messages climbing the receipt ladder, a line to send from.

    Keys: c compose (`name: message`, Enter sends), f filter by the selected session, t the selected
    message's thread, Enter open a message, Escape all messages, q quit.
    """
    settings = Settings.from_env()
    name = sender if sender is not None else default_sender(settings)
    validate_name(name, what="sender name")
    from agentbus.cli.watch.app import WatchApp

    with open_bus(settings) as bus:
        WatchApp(settings, bus, name).run()
