"""Whether live peers can be woken: the wake directory and files, or pg-notify listeners."""

import os

from agentbus.cli.doctor.location import mode_problem, searchable
from agentbus.cli.doctor.model import Check, Context, Status, tilde
from agentbus.cli.doctor.postgres import check_listeners
from agentbus.core.bus import HOST


def check_wake(ctx: Context) -> list[Check]:
    settings = ctx.settings
    assert settings is not None
    trigger = ctx.trigger or settings.trigger or "file-watch"
    if trigger == "poll":
        return [Check("wake", "wake", "info", "AGENTBUS_TRIGGER=poll: wake files are not used")]
    if trigger == "pg-notify":
        return check_listeners(ctx)
    if not searchable(settings.home):
        return []
    wake = settings.wake_dir
    shown = tilde(wake, ctx.env)
    if not wake.is_dir():
        status: Status = "warn" if ctx.live else "info"
        return [Check("wake", "wake", status, f"{shown} does not exist", "it is created when the next session starts")]
    if not os.access(wake, os.W_OK | os.X_OK):
        return [
            Check("wake", "wake", "fail", f"{shown} is not writable: senders cannot wake anyone", f"chmod 700 {wake}")
        ]
    problem = mode_problem(wake, 0o700)
    if problem:
        return [Check("wake", "wake", problem[0], problem[1], f"chmod 700 {wake}")]
    local = [p for p in ctx.live if p.host == HOST]
    missing = [p.name for p in local if not (wake / p.name).exists()]
    if missing:
        return [
            Check(
                "wake",
                "wake",
                "warn",
                f"no wake file for live peer(s) {', '.join(missing)}: their trigger is not armed",
                "their mail still arrives through the safety poll (every few seconds); restart those sessions",
            )
        ]
    files = f", a wake file for each of {len(local)} live peer(s)" if local else ""
    return [Check("wake", "wake", "pass", f"{shown} writable{files}")]
