"""The watch's screen (Textual): sessions above, the conversation on the receipt ladder below, a compose line.

It reads the bus in a worker thread whenever the bus changes: on SQLite every commit grows the
write-ahead log (``bus.db-wal``), which the view watches as the adapters watch their wake files
(path_watch.py: inotify read by the event loop, no polling); on PostgreSQL, which tells a reader
nothing of receipt stamps, it reads every second. Reads never take the write lock; only sending
does. Once a minute it reads anyway, for the clocks (last seen, stale and stuck marks).
"""

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Header, Input, Static

from agentbus.cli.watch.model import (
    RUNGS,
    STUCK_HINT,
    Message,
    Session,
    Traffic,
    message_of,
    read_sessions,
    shown_recipient,
)
from agentbus.core.bus import Bus
from agentbus.core.config import Settings
from agentbus.core.errors import BusError
from agentbus.core.names import validate_name
from agentbus.core.records import Rungs
from agentbus.triggers import make_trigger

#: The id, time and route of a message share one column, padded (a cell fewer per row: each one costs
#: the table a measure when 10,000 rows open).
ID_WIDTH = 6
ROUTE_WIDTH = 30
#: The newest messages a watch opens with, and how many older ones `o` brings each time: a table of
#: 2,000 rows is drawn in ~0.2 s, one of 10,000 in ~1.2 s (benchmarks/watch.py).
PAGE = 2_000
#: A burst of commits is read once, this long after the first.
SETTLE_SECONDS = 0.02
CLOCK_SECONDS = 60.0
POSTGRES_SECONDS = 1.0
RUNG_STYLE = {"queued": "yellow", "pushed": "cyan", "received": "blue", "seen": "green", "answered": "bold green"}


def clock(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch).strftime("%H:%M:%S") if epoch is not None else "-"


def one_line(text: str, width: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


class MessageScreen(ModalScreen[None]):
    """One message whole, with every rung's time (a broadcast: each recipient's rung)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,enter", "dismiss", "close")]

    def __init__(self, message: Message, copies: list[Message] | None = None) -> None:
        super().__init__()
        self.message = message
        self.copies = copies or [message]

    def compose(self) -> ComposeResult:
        m = self.message
        ladder = "  ".join(
            f"{rung} {clock(at)}"
            for rung, at in (
                ("queued", m.created_at),
                ("pushed", m.pushed_at),
                ("received", m.received_at),
                ("seen", m.seen_at),
                ("answered", m.answered_at),
            )
        )
        reply = f" (reply to #{m.reply_to})" if m.reply_to is not None else ""
        to = f"everyone ({len(self.copies)})" if len(self.copies) > 1 else shown_recipient(m)
        with Vertical(id="message"):
            yield Static(f"#{m.id} {m.sender} → {to}{reply}", id="message-head")
            yield Static(ladder, id="message-ladder")
            if len(self.copies) > 1:
                rungs = ", ".join(f"{c.recipient} {c.rung}" for c in sorted(self.copies, key=lambda c: c.recipient))
                yield Static(f"to everyone: {rungs}", id="message-copies")
            yield Static(Text(m.body), id="message-body")


class WatchApp(App[None]):
    """``agentbus watch``: the bus at ``settings``, sending as ``sender``."""

    TITLE = "agentbus watch"
    CSS = """
    #sessions { height: auto; max-height: 12; }
    #conversation { height: 1fr; }
    #status { height: 1; color: $text-muted; }
    MessageScreen { align: center middle; }
    #message { width: 90%; height: auto; max-height: 90%; border: round $accent; padding: 1 2; background: $panel; }
    #message-ladder { color: $text-muted; margin-bottom: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        Binding("c", "compose", "compose"),
        Binding("f", "filter_session", "filter by session"),
        Binding("t", "filter_thread", "thread"),
        Binding("escape", "clear_filter", "back / all messages"),
        Binding("o", "older", "older messages"),
        Binding("enter", "open_message", "open", show=False),
    ]

    def __init__(
        self,
        settings: Settings,
        bus: Bus,
        sender: str = "cli",
        *,
        now: Callable[[], float] = time.time,
        show_clock: bool = True,
    ) -> None:
        """``now`` is the clock the ages and stuck marks are read against, ``show_clock`` the header's
        (a fixed clock and none: a screen that renders the same every time, for snapshot tests)."""
        super().__init__()
        self.settings = settings
        self.bus = bus
        self.sender = sender
        self.now = now
        self.show_clock = show_clock
        self.traffic = Traffic()
        self.sessions: list[Session] = []
        self.only: set[int] | None = None
        self.filter_label = ""
        self._refresh_due = False
        self._reading = False
        self._read_again = False
        self._stops: list[Callable[[], None]] = []
        #: Wakes a recipient of what the compose line sent (its connection, on PostgreSQL, closed at exit).
        self.trigger = make_trigger(settings)
        #: How many times the bus was read (tests and benchmarks).
        self.reads = 0
        #: time.monotonic() when the first read was on screen.
        self.opened_at: float | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=self.show_clock)
        sessions: DataTable[Text | str] = DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
        yield sessions
        conversation: DataTable[Text | str] = DataTable(id="conversation", cursor_type="row", zebra_stripes=True)
        yield conversation
        yield Static("", id="status")
        yield Input(placeholder=f"name: message  (sends as {self.sender}; c comes here, Enter sends)", id="compose")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.bus.where
        sessions = self.query_one("#sessions", DataTable)
        for label, key in (
            ("SESSION", "name"),
            ("RUNTIME", "adapter"),
            ("DOOR", "door"),
            ("HOST", "host"),
            ("LAST SEEN", "last_seen"),
            ("PENDING", "pending"),
            ("STATE", "state"),
        ):
            sessions.add_column(label, key=key)
        conversation = self.query_one("#conversation", DataTable)
        for label, key in (
            (f"{'#':>{ID_WIDTH}}  {'TIME':<8}  {'FROM → TO':<{ROUTE_WIDTH}}", "route"),
            ("RUNG", "rung"),
            ("MESSAGE", "text"),
        ):
            conversation.add_column(label, key=key)
        self._watch_the_bus()
        self.set_interval(CLOCK_SECONDS, self.request_read)
        self.request_read()

    def on_unmount(self) -> None:
        for stop in self._stops:
            with contextlib.suppress(Exception):
                stop()
        self.trigger.close()

    # reading ---------------------------------------------------------------------

    def _watch_the_bus(self) -> None:
        from agentbus.triggers.path_watch import Change, watch

        if self.settings.db_url:
            self.set_interval(POSTGRES_SECONDS, self.request_read)
            return
        wal = self.settings.db_path.with_name(self.settings.db_path.name + "-wal")
        for path, change in ((wal, Change.GROWN), (self.settings.db_path, Change.GROWN)):
            with contextlib.suppress(OSError):
                self._stops.append(watch(path, change, self.request_read))

    def request_read(self) -> None:
        """The bus changed (or the clock ticked): read it once, soon (a burst of commits is one read; a
        change during a read makes one more read after it, never two reads at once)."""
        if self._reading:
            self._read_again = True
            return
        if self._refresh_due:
            return
        self._refresh_due = True
        self.set_timer(SETTLE_SECONDS, self._read)

    async def _read(self) -> None:
        self._refresh_due = False
        self._reading = True
        try:
            self.reads += 1
            found, sessions = await asyncio.to_thread(self._read_bus)
        finally:
            self._reading = False
        changed = self.traffic.merge(message_of(rungs) for rungs in found)  # on the loop: one writer of traffic
        self.sessions = sessions
        try:
            self._show_sessions()
            self._show_messages(changed)
        except NoMatches:  # the app is closing: its tables are gone
            return
        if self.opened_at is None:
            self.call_after_refresh(self._opened)
        if self._read_again:
            self._read_again = False
            self.request_read()

    def _opened(self) -> None:
        self.opened_at = time.monotonic()

    def _read_bus(self) -> tuple[list[Rungs], list[Session]]:
        """The worker thread's part: what changed since the traffic the loop holds, and the sessions."""
        found = self.bus.rungs(after_id=self.traffic.last_id, also=self.traffic.unsettled(), limit=PAGE)
        return found, read_sessions(self.bus, self.now())

    # drawing ---------------------------------------------------------------------

    def _live_names(self) -> set[str]:
        return {s.peer.name for s in self.sessions if s.live}

    def _show_sessions(self) -> None:
        table = self.query_one("#sessions", DataTable)
        cursor = table.cursor_row
        table.clear()
        now = self.now()
        stuck_for = {m.recipient for m in self.traffic.messages.values() if m.stuck(now, True)}
        for session in self.sessions:
            peer = session.peer
            state = Text("live", "green") if session.live else Text("stale", "dim")
            if session.live and peer.name in stuck_for:
                state = Text("stuck", "bold red")
            elif session.live and not peer.can_push:
                state = Text("pull only", "yellow")
            table.add_row(
                peer.name,
                peer.adapter,
                session.door,
                peer.host,
                f"{now - peer.last_seen:.0f}s ago",
                str(session.pending),
                state,
                key=peer.name,
            )
        if self.sessions:
            table.move_cursor(row=min(cursor, len(self.sessions) - 1))

    def _row(self, copies: list[Message], live: set[str]) -> tuple[Text, Text, Text]:
        """The cells of one send: a message, or a broadcast's copies (its lowest rung, and how many reached it)."""
        message = min(copies, key=lambda m: RUNGS.index(m.rung))
        thread = f"↳ #{message.reply_to} " if message.reply_to is not None else ""
        rung = Text(message.rung, RUNG_STYLE[message.rung])
        route = f"{message.sender} → {shown_recipient(message)}"
        if len(copies) > 1:
            seen = sum(m.rung in ("seen", "answered") for m in copies)
            rung = Text(f"{message.rung} ({seen}/{len(copies)} seen)", RUNG_STYLE[message.rung])
            route = f"{message.sender} → everyone ({len(copies)})"
        text = Text(thread + one_line(message.body))
        if any(m.stuck(self.now(), m.recipient in live) for m in copies):
            rung = Text(f"{message.rung} (stuck)", "bold red")
            text.stylize("red")
        first = min(m.id for m in copies)
        head = Text(f"{first:>{ID_WIDTH}}  {clock(message.created_at)}  {route:<{ROUTE_WIDTH}}")
        return head, rung, text  # Text, not str: a str cell is parsed as markup

    def _show_messages(self, changed: list[Message]) -> None:
        table = self.query_one("#conversation", DataTable)
        live = self._live_names()
        at_bottom = table.cursor_row >= table.row_count - 1
        drawn: set[str] = set()
        for message in changed:
            if self.only is not None and message.id not in self.only:
                continue
            copies = self.traffic.group_of(message)
            key = str(min(m.id for m in copies))
            if key in drawn:
                continue
            drawn.add(key)
            for other in copies:  # a copy drawn alone before the rest of its broadcast was read
                if str(other.id) != key and str(other.id) in table.rows:
                    table.remove_row(str(other.id))
            cells = self._row(copies, live)
            if key in table.rows:
                for column, value in zip(("route", "rung", "text"), cells, strict=True):
                    table.update_cell(key, column, value)
            else:
                table.add_row(*cells, key=key)
        if at_bottom and table.row_count:
            table.move_cursor(row=table.row_count - 1)
        stuck = [m for m in changed if m.stuck(self.now(), m.recipient in live)]
        if stuck:
            self._say(f"#{stuck[0].id} to {stuck[0].recipient}: {STUCK_HINT}")

    def _redraw(self) -> None:
        table = self.query_one("#conversation", DataTable)
        table.clear()
        messages = sorted(self.traffic.messages.values(), key=lambda m: m.id)
        self._show_messages(messages)
        self.sub_title = f"{self.bus.where}{self.filter_label}"

    def _say(self, text: str) -> None:
        self.query_one("#status", Static).update(text)

    # keys ------------------------------------------------------------------------

    def _selected_message(self) -> Message | None:
        table = self.query_one("#conversation", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.traffic.messages.get(int(key)) if key is not None else None

    async def action_older(self) -> None:
        """Bring the PAGE messages before the oldest shown (drawn in id order: the table is built again)."""
        first = self.traffic.first_id
        if first is None or self._reading:
            return
        found = await asyncio.to_thread(lambda: self.bus.rungs(before_id=first, limit=PAGE))
        if not found:
            self._say("no older messages on the bus")
            return
        self.traffic.merge(message_of(rungs) for rungs in found)
        self._redraw()
        self._say(f"{len(found)} older message(s): {len(self.traffic.messages)} shown since #{self.traffic.first_id}")

    def action_compose(self) -> None:
        self.query_one("#compose", Input).focus()

    def action_filter_session(self) -> None:
        table = self.query_one("#sessions", DataTable)
        if not table.row_count:
            return
        name = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        self.only = {m.id for m in self.traffic.messages.values() if name in (m.sender, m.recipient)}
        self.filter_label = f" · session {name}"
        self._redraw()

    def action_filter_thread(self) -> None:
        message = self._selected_message()
        if message is None:
            return
        self.only = self.traffic.thread_of(message.id)
        self.filter_label = f" · thread of #{message.id}"
        self._redraw()

    def action_clear_filter(self) -> None:
        """Escape: off the compose line (back to the conversation), else every message again."""
        if isinstance(self.focused, Input):
            self.query_one("#conversation", DataTable).focus()
            return
        if self.only is not None:
            self.only, self.filter_label = None, ""
            self._redraw()

    def action_open_message(self) -> None:
        message = self._selected_message()
        if message is not None:
            self.push_screen(MessageScreen(message, self.traffic.group_of(message)))

    @on(DataTable.RowSelected, "#conversation")
    def _open_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_open_message()

    @on(DataTable.RowSelected, "#sessions")
    def _filter_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_filter_session()

    @on(Input.Submitted, "#compose")
    async def _send(self, event: Input.Submitted) -> None:
        to, sep, text = event.value.partition(":")
        to, text = to.strip(), text.strip()
        if not sep or not to or not text:
            self._say("write it as  name: message  (or  *: message  for every live session)")
            return
        try:
            if to != "*":
                validate_name(to, what="recipient")
            receipt = await asyncio.to_thread(self.bus.send, self.sender, to, text)
        except BusError as exc:
            self._say(f"not sent: {exc}")
            return
        for recipient in receipt.recipients:
            self.trigger.notify(recipient)
        event.input.value = ""
        where = ", ".join(
            f"#{i} → {r}{' (offline: queued)' if r in receipt.queued_offline else ''}"
            for i, r in zip(receipt.ids, receipt.recipients, strict=True)
        )
        self._say(f"sent {where}" if where else "nothing sent: no other session is online to broadcast to")
        self.request_read()
