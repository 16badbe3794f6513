"""agentbus watch as rendered: snapshot tests of its screen (pytest-textual-snapshot) on a bus of fixed content.

The bus is real (a SQLite file written through ``Bus``); its times are then set to fixed values, the
app reads ages against a fixed clock and shows no header clock, and times print in UTC: the screen
renders the same on any machine. ``pytest tests/test_watch_snapshot.py --snapshot-update`` records a
changed screen (look at the report it writes before committing it).
"""

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import sqlite_only

from agentbus.cli.watch.app import WatchApp
from agentbus.core.bus import Bus
from agentbus.core.config import Settings

pytestmark = sqlite_only
#: 2026-12-08 09:00:00 UTC: the clock the screen is read against (ages, liveness, stuck marks).
NOW = 1796720400.0
SESSIONS = (
    ("frontend", "claude-mcp", "native", True),
    ("backend", "claude-mcp", "native", True),
    ("codex-dev", "codex", "app-server", False),
    ("researcher", "gemini", "hook", False),
)


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def seeded(tmp_path: Path, utc: None) -> Iterator[tuple[Settings, Bus]]:
    """A bus with four sessions on another host and a short conversation, at fixed times."""
    settings = Settings.from_env(
        {"AGENTBUS_HOME": str(tmp_path / "bus"), "HOME": str(tmp_path), "AGENTBUS_RATE_LIMIT_PER_MINUTE": "0"}
    )
    with Bus(settings) as bus:
        for name, adapter, door, receipts in SESSIONS:
            bus.register(
                name,
                session_id=name,
                adapter=adapter,
                pid=4242,
                host="host-a",
                can_push=True,
                receipts=receipts,
                door=door,
            )
        ask = bus.send("frontend", "backend", "Can you add cursor pagination to GET /items?").ids[0]
        bus.send("backend", "frontend", "On it: ?cursor=<id>&limit=50.", reply_to=ask)
        bus.send("frontend", "codex-dev", "Please write the pagination test.")
        bus.send("backend", "*", "Deploying to staging in 5 minutes.")
        bus.send("lead", "researcher", "Which cursor encoding do the other services use?")
        _fix_times(settings.db_path)
        yield settings, bus


def _fix_times(path: Path) -> None:
    """Every stamp at a fixed time: sent a minute before NOW, seconds apart; the rungs each proves."""
    rungs: dict[int, dict[str, Any]] = {
        1: {"pushed_at": 1, "received_at": 1.1, "seen_at": 1.2, "delivered_at": 1.2},
        2: {"pushed_at": 1, "received_at": 1.1, "seen_at": 1.3, "delivered_at": 1.3},
        3: {"pushed_at": 1, "delivered_at": 1},
        4: {"pushed_at": 1, "received_at": 1.1, "seen_at": 1.2, "delivered_at": 1.2},
        5: {"pushed_at": 1, "delivered_at": 1},
        6: {"pushed_at": 1, "delivered_at": 1},
    }
    with sqlite3.connect(path) as db:
        ids = [row[0] for row in db.execute("SELECT id FROM messages ORDER BY id")]
        for index, message_id in enumerate(ids):
            sent = NOW - 60 + 5 * index
            db.execute("UPDATE messages SET created_at = ? WHERE id = ?", (sent, message_id))
            broadcast_copy = message_id in (4, 5, 6)
            if broadcast_copy:
                db.execute("UPDATE messages SET created_at = ? WHERE id = ?", (NOW - 60 + 5 * 3, message_id))
                sent = NOW - 60 + 15
            for column, after in rungs.get(message_id, {}).items():
                db.execute(f"UPDATE messages SET {column} = ? WHERE id = ?", (sent + after, message_id))
        db.execute("UPDATE peers SET started_at = ?, last_seen = ?", (NOW - 3600, NOW - 4))


def _app(settings: Settings, bus: Bus) -> WatchApp:
    return WatchApp(settings, bus, "lead", now=lambda: NOW, show_clock=False)


async def _read(pilot: Any) -> None:
    app = pilot.app
    deadline = time.monotonic() + 10
    while app.opened_at is None and time.monotonic() < deadline:
        await pilot.pause(0.02)
    app.sub_title = "~/.agentbus/bus.db"
    await pilot.pause()


def test_the_screen(seeded: tuple[Settings, Bus], snap_compare: Any) -> None:
    """Sessions, the conversation (a reply threaded, a broadcast as one row), the compose line, the keys."""
    assert snap_compare(_app(*seeded), terminal_size=(150, 24), run_before=_read)


def test_a_message_opened(seeded: tuple[Settings, Bus], snap_compare: Any) -> None:
    """Enter on the broadcast: its text whole, its ladder, each recipient's rung."""

    async def open_the_broadcast(pilot: Any) -> None:
        await _read(pilot)
        table = pilot.app.query_one("#conversation")
        table.focus()
        table.move_cursor(row=table.get_row_index("4"))
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(_app(*seeded), terminal_size=(150, 24), run_before=open_the_broadcast)
