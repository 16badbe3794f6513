"""Triggers: how a recipient learns it may have mail (file-watch by default, poll as fallback)."""

from agentbus.core.config import Backend, Settings
from agentbus.core.ports import Trigger
from agentbus.triggers.file_watch import FileWatchTrigger
from agentbus.triggers.poll import PollTrigger

TRIGGERS = ("file-watch", "poll", "pg-notify")


def make_trigger(settings: Settings) -> Trigger:
    """The trigger named by AGENTBUS_TRIGGER: default ``file-watch``, ``pg-notify`` on PostgreSQL."""
    default = "pg-notify" if settings.backend is Backend.POSTGRESQL else "file-watch"
    choice = settings.trigger or default
    if choice == "pg-notify":
        if settings.backend is not Backend.POSTGRESQL:
            raise ValueError("AGENTBUS_TRIGGER=pg-notify needs a PostgreSQL AGENTBUS_DB_URL")
        from agentbus.triggers.pg_notify import PgNotifyTrigger

        return PgNotifyTrigger(settings.url)
    if choice in ("file-watch", "filewatch", "file"):
        return FileWatchTrigger(settings.wake_dir)
    if choice == "poll":
        return PollTrigger(settings.poll_seconds)
    raise ValueError(f"AGENTBUS_TRIGGER={choice!r} is unknown; choose one of: {', '.join(TRIGGERS)}")


__all__ = ["TRIGGERS", "FileWatchTrigger", "PollTrigger", "make_trigger"]
