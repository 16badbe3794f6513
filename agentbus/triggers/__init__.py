"""Triggers: how a recipient learns it may have mail (file-watch by default, poll as fallback)."""

import os

from agentbus.core.config import Settings
from agentbus.core.ports import Trigger
from agentbus.triggers.file_watch import FileWatchTrigger
from agentbus.triggers.poll import PollTrigger

TRIGGERS = ("file-watch", "poll", "pg-notify")


def make_trigger(settings: Settings, env: dict[str, str] | None = None) -> Trigger:
    """The trigger named by AGENTBUS_TRIGGER: default ``file-watch``, ``pg-notify`` on PostgreSQL."""
    env = dict(os.environ) if env is None else env
    default = "pg-notify" if settings.url.startswith("postgresql") else "file-watch"
    choice = (env.get("AGENTBUS_TRIGGER") or default).strip().lower()
    if choice == "pg-notify":
        if not settings.url.startswith("postgresql"):
            raise ValueError("AGENTBUS_TRIGGER=pg-notify needs a PostgreSQL AGENTBUS_DB_URL")
        from agentbus.triggers.pg_notify import PgNotifyTrigger

        return PgNotifyTrigger(settings.url)
    if choice in ("file-watch", "filewatch", "file"):
        return FileWatchTrigger(settings.wake_dir)
    if choice == "poll":
        interval = float(env.get("AGENTBUS_POLL_SECONDS") or 0.5)
        return PollTrigger(interval)
    raise ValueError(f"AGENTBUS_TRIGGER={choice!r} is unknown; choose one of: {', '.join(TRIGGERS)}")


__all__ = ["TRIGGERS", "FileWatchTrigger", "PollTrigger", "make_trigger"]
