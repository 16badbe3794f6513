"""Triggers: how a recipient learns it may have mail (file-watch by default, poll as fallback)."""

import os

from agentbus.core.config import Settings
from agentbus.core.ports import Trigger
from agentbus.triggers.file_watch import FileWatchTrigger
from agentbus.triggers.poll import PollTrigger

TRIGGERS = ("file-watch", "poll")


def make_trigger(settings: Settings, env: dict[str, str] | None = None) -> Trigger:
    """The trigger named by AGENTBUS_TRIGGER (default ``file-watch``)."""
    env = dict(os.environ) if env is None else env
    choice = (env.get("AGENTBUS_TRIGGER") or "file-watch").strip().lower()
    if choice in ("file-watch", "filewatch", "file"):
        return FileWatchTrigger(settings.wake_dir)
    if choice == "poll":
        interval = float(env.get("AGENTBUS_POLL_SECONDS") or 0.5)
        return PollTrigger(interval)
    raise ValueError(f"AGENTBUS_TRIGGER={choice!r} is unknown; choose one of: {', '.join(TRIGGERS)}")


__all__ = ["TRIGGERS", "FileWatchTrigger", "PollTrigger", "make_trigger"]
