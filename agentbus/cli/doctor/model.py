"""What every check module shares: the Check line, its statuses, and the Context a run fills in."""

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agentbus.core.bus import Peer
from agentbus.core.config import Settings
from agentbus.manifest import Manifest

Status = Literal["pass", "info", "warn", "fail"]

STATUSES: tuple[Status, ...] = ("pass", "info", "warn", "fail")

STUCK_AFTER_SECONDS = 60.0


@dataclass
class Check:
    """One line of the report. ``id`` is stable for scripts; ``label`` is what a person reads."""

    id: str
    label: str
    status: Status
    summary: str
    hint: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Context:
    env: dict[str, str]
    cwd: Path
    spawn: bool = True
    stuck_after: float = STUCK_AFTER_SECONDS
    settings: Settings | None = None
    manifests: list[Manifest] = field(default_factory=list)
    live: list[Peer] = field(default_factory=list)
    bus_readable: bool = False
    trigger: str = ""
    #: False once the database server of AGENTBUS_DB_URL could not be reached (its checks are skipped).
    server_reachable: bool = True


def tilde(path: Path | str, env: dict[str, str]) -> str:
    text = str(path)
    home = env.get("HOME")
    if home and (text == home or text.startswith(home.rstrip("/") + "/")):
        return "~" + text[len(home.rstrip("/")) :]
    return text


def overall(checks: list[Check]) -> Status:
    """The worst status in the report."""
    return max((c.status for c in checks), key=STATUSES.index, default="pass")
