"""agentbus watch, driven by Textual's pilot against a real bus with real adapter processes (fakeclaude sessions)."""

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import ON_POSTGRES
from textual.widgets import DataTable, Input, Static

from agentbus.cli.watch.app import PAGE, WatchApp
from agentbus.core.bus import Bus
from agentbus.core.config import Settings
from agentbus.core.records import Outgoing
from fakeclaude import Sandbox, Session

pytestmark = pytest.mark.anyio
STEP = 10.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class PeerBus(Sandbox):
    """fakeclaude sessions on this test's bus (its PostgreSQL database on a PostgreSQL run)."""

    def __init__(self, root: Path, database_url: str | None) -> None:
        super().__init__(root)
        self.db_env = {"AGENTBUS_DB_URL": database_url} if database_url else {}

    def start(self, name: str, **kwargs: object) -> Session:
        return self.start_session(name, env=self.db_env, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def sandbox(tmp_path: Path, database_url: str | None) -> Iterator[PeerBus]:
    made = PeerBus(tmp_path / "peers", database_url)
    yield made
    made.close_all()


def _settings(sandbox: PeerBus) -> Settings:
    return Settings.from_env({"AGENTBUS_HOME": str(sandbox.bus_home), "HOME": str(sandbox.home), **sandbox.db_env})


async def _until(check: Callable[[], bool], what: str, pilot: object, timeout: float = STEP) -> float:
    """Pause the pilot until ``check()``; the monotonic time it first held."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await pilot.pause(0.01)  # type: ignore[attr-defined]
    return time.monotonic()


def _cell(app: WatchApp, table: str, row: str, column: str) -> str:
    grid = app.query_one(table, DataTable)
    if row not in grid.rows:
        return ""
    return str(grid.get_cell(row, column))


async def _send(session: Session, to: str, text: str, **extra: object) -> int:
    result = await asyncio.to_thread(session.call_tool, "send_message", {"to": to, "text": text, **extra})
    assert not result.is_error, result.text
    assert isinstance(result.structured, dict)
    return int(result.structured["msg_id"])


async def test_a_message_climbs_to_seen_live_and_its_reply_threads_under_it(sandbox: PeerBus) -> None:
    alice = sandbox.start("alice")
    bob = sandbox.start("bob")
    settings = _settings(sandbox)
    with Bus(settings) as bus:
        app = WatchApp(settings, bus, "cli")
        async with app.run_test(size=(160, 40)) as pilot:
            await _until(lambda: _cell(app, "#sessions", "bob", "state") == "live", "bob listed live", pilot)
            assert _cell(app, "#sessions", "alice", "door") == "native"
            sent = time.monotonic()
            first = await _send(alice, "bob", "hello bob")
            shown = await _until(lambda: _cell(app, "#conversation", str(first), "route") != "", "the message", pilot)
            assert "alice → bob" in _cell(app, "#conversation", str(first), "route")
            await _until(lambda: _cell(app, "#conversation", str(first), "rung") == "seen", "seen", pilot)
            reply = await _send(bob, "alice", "hello alice", reply_to=first)
            await _until(lambda: _cell(app, "#conversation", str(reply), "route") != "", "the reply", pilot)
            assert _cell(app, "#conversation", str(reply), "text").startswith(f"↳ #{first} ")
            await _until(lambda: _cell(app, "#conversation", str(first), "rung") == "answered", "answered", pilot)
            print(f"message on screen {1000 * (shown - sent):.0f} ms after send_message was called")
            assert shown - sent < 1.0, "a change on the bus took over a second to show"

            # the thread of the reply: both messages, and only them
            await _send(alice, "bob", "another topic")
            await _until(lambda: app.query_one("#conversation", DataTable).row_count == 3, "three rows", pilot)
            table = app.query_one("#conversation", DataTable)
            table.focus()
            table.move_cursor(row=table.get_row_index(str(reply)))
            await pilot.press("t")
            assert set(table.rows) == {str(first), str(reply)}
            await pilot.press("escape")
            assert table.row_count == 3


async def test_a_message_typed_on_the_compose_line_arrives(sandbox: PeerBus) -> None:
    bob = sandbox.start("bob")
    settings = _settings(sandbox)
    with Bus(settings) as bus:
        app = WatchApp(settings, bus, "lead")
        async with app.run_test(size=(160, 40)) as pilot:
            await _until(lambda: _cell(app, "#sessions", "bob", "state") == "live", "bob listed live", pilot)
            await pilot.press("c")
            assert isinstance(app.focused, Input)
            await pilot.press(*"bob: from the watch")
            await pilot.press("enter")
            event = await asyncio.to_thread(bob.wait_for_channel, None, STEP)
            assert event.content == "from the watch"
            assert event.meta["from"] == "lead"
            assert "sent #" in str(app.query_one("#status", Static).render())
            await pilot.press(*"nobody here")
            await pilot.press("enter")
            assert "name: message" in str(app.query_one("#status", Static).render())
            await pilot.press("ctrl+u")
            await pilot.press(*"BAD NAME: hi")
            await pilot.press("enter")
            status = str(app.query_one("#status", Static).render())
            assert status.startswith("not sent: invalid recipient"), status


async def test_a_broadcast_is_one_row_and_a_message_opens_whole(sandbox: PeerBus) -> None:
    alice = sandbox.start("alice")
    sandbox.start("bob")
    sandbox.start("carol")
    settings = _settings(sandbox)
    with Bus(settings) as bus:
        app = WatchApp(settings, bus, "cli")
        async with app.run_test(size=(160, 40)) as pilot:
            await _until(lambda: _cell(app, "#sessions", "carol", "state") == "live", "carol listed live", pilot)
            result = await asyncio.to_thread(alice.call_tool, "broadcast", {"text": "standup in 5\nbring notes"})
            assert not result.is_error, result.text
            ids = sorted(result.structured["msg_ids"])  # type: ignore[index]
            key = str(ids[0])
            await _until(lambda: _cell(app, "#conversation", key, "route") != "", "the broadcast", pilot)
            table = app.query_one("#conversation", DataTable)
            assert table.row_count == 1, list(table.rows)
            assert "alice → everyone (2)" in _cell(app, "#conversation", key, "route")
            await _until(lambda: "(2/2 seen)" in _cell(app, "#conversation", key, "rung"), "both seen", pilot)
            table.focus()
            await pilot.press("enter")
            shown = "\n".join(str(w.render()) for w in app.screen.query(Static))
            assert "standup in 5\nbring notes" in shown
            assert "bob seen" in shown
            assert "carol seen" in shown
            await pilot.press("escape")
            assert app.screen is app.screen_stack[0]


@pytest.mark.skipif(ON_POSTGRES, reason="agentbus demo runs on a bus file")
async def test_the_demo_watched_shows_every_message_reach_the_top_of_its_ladder(tmp_path: Path) -> None:
    """With the README's demo running on a bus (``agentbus demo --bus DIR``), the watch shows each message
    climb to seen (or answered); a message to a session that keeps no receipts (the Codex session) ends
    at pushed, which is all its session can prove."""
    import io

    from agentbus.cli.demo import Narrator, run_demo
    from agentbus.cli.output import Output

    bus_home = tmp_path / "demo-bus"
    settings = Settings.from_env({"AGENTBUS_HOME": str(bus_home), "HOME": str(tmp_path)})
    with Bus(settings) as bus:
        app = WatchApp(settings, bus, "cli")
        async with app.run_test(size=(160, 40)) as pilot:
            narration = io.StringIO()
            await asyncio.to_thread(run_demo, Narrator(Output(narration, narration), 0.0), "claude-mcp", bus_home)

            def every_message_done() -> bool:
                messages = app.traffic.messages.values()
                return len(messages) >= 5 and all(m.delivered_at is not None for m in messages)

            await _until(every_message_done, "every message of the demo delivered", pilot)
            await pilot.pause(0.1)
            rungs = {m.id: m.rung for m in app.traffic.messages.values()}
            # delivered without a sighting: pushed to a session that keeps no receipts (codex-dev)
            assert set(rungs.values()) <= {"seen", "answered", "pushed"}, rungs
            assert "answered" in rungs.values(), rungs
            assert sum(rung in ("seen", "answered") for rung in rungs.values()) >= 4, rungs
            pushed_only = {m.recipient for m in app.traffic.messages.values() if m.rung == "pushed"}
            assert pushed_only <= {"codex-dev"}, pushed_only
            table = app.query_one("#conversation", DataTable)
            for key in table.rows:
                assert str(table.get_cell(key, "rung")).startswith(app.traffic.messages[int(str(key.value))].rung)


async def test_it_opens_on_a_bus_that_already_has_mail_and_escape_leaves_the_compose_line(
    sandbox: PeerBus,
) -> None:
    """The first read draws what is already there (the watch's own connection touching the log must not
    lose it to a second read); Escape takes the focus off the compose line."""
    settings = _settings(sandbox)
    with Bus(settings) as bus:
        for n in range(300):  # within the sender's rate limit (600 a minute)
            bus.send("alice", "bob", f"earlier {n}")
        app = WatchApp(settings, bus, "cli")
        async with app.run_test(size=(160, 40)) as pilot:
            table = app.query_one("#conversation", DataTable)
            await _until(lambda: app.opened_at is not None, "the first read drawn", pilot)
            await pilot.pause(0.2)
            assert table.row_count == 300
            await pilot.press("c")
            assert isinstance(app.focused, Input)
            await pilot.press("escape")
            assert app.focused is table


async def test_it_opens_with_the_newest_page_and_o_brings_the_older_ones(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"AGENTBUS_HOME": str(tmp_path / "bus"), "HOME": str(tmp_path), "AGENTBUS_RATE_LIMIT_PER_MINUTE": "0"}
    )
    total = PAGE + 50
    with Bus(settings) as bus:
        bus.send_many("alice", [Outgoing("bob", f"earlier {n}") for n in range(total)])
        app = WatchApp(settings, bus, "cli")
        async with app.run_test(size=(160, 40)) as pilot:
            table = app.query_one("#conversation", DataTable)
            await _until(lambda: app.opened_at is not None, "the first read drawn", pilot)
            assert table.row_count == PAGE
            assert str(table.coordinate_to_cell_key((0, 0)).row_key.value) == str(total - PAGE + 1)
            await pilot.press("o")
            await _until(lambda: table.row_count == total, "the older page", pilot)
            assert str(table.coordinate_to_cell_key((0, 0)).row_key.value) == "1"
            await pilot.press("o")
            assert "no older messages" in str(app.query_one("#status", Static).render())
