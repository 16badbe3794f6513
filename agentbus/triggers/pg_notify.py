"""The pg-notify trigger: NOTIFY on a per-recipient channel, LISTEN read by the event loop (PostgreSQL buses).

Armed inside a running asyncio loop, the listening connection's socket is read by the loop itself
(``add_reader``; libpq's input consumed and its notifications drained there): a wake reaches the
drain with no thread in between, as the file-watch trigger's inotify descriptor does. Armed outside a
loop, a thread of its own waits on the notifications. Neither imports SQLAlchemy.
"""

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from agentbus.core.pgdriver import libpq_conninfo
from agentbus.core.ports import Disposer

log = logging.getLogger(__name__)

#: How often the listener thread looks at its stop flag: the most a disposer (and so an adapter's
#: exit after stdin EOF) waits for it. A wake-up costs microseconds.
STOP_CHECK_SECONDS = 0.1


def channel_for(name: str) -> str:
    return f"agentbus.wake.{name}"


class PgNotifyTrigger:
    name = "pg-notify"

    def __init__(self, sqlalchemy_url: str) -> None:  # postgresql+psycopg://...
        self.conninfo = libpq_conninfo(sqlalchemy_url)
        self._sender: Any = None  # a psycopg connection, opened on the first notify
        self._sender_lock = threading.Lock()

    def arm(self, self_name: str, on_wake: Callable[[], None]) -> Disposer:
        import psycopg
        from psycopg import sql

        conn = psycopg.connect(self.conninfo, autocommit=True)
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel_for(self_name))))
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return _listen_on_a_thread(conn, self_name, on_wake)
        fd = conn.fileno()

        def readable() -> None:
            try:
                conn.pgconn.consume_input()
                woken = False
                while conn.pgconn.notifies() is not None:
                    woken = True
            except psycopg.Error as exc:
                log.warning("pg-notify listener for %s stopped: %s", self_name, exc)
                loop.remove_reader(fd)
                return
            if woken:
                on_wake()

        loop.add_reader(fd, readable)
        readable()  # a notification that came with the LISTEN's answer

        def dispose() -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed already: nothing reads it
                loop.remove_reader(fd)
            conn.close()

        return dispose

    def close(self) -> None:
        """Close the connection used by notify (the listeners close with their disposers)."""
        with self._sender_lock:
            if self._sender is not None:
                self._sender.close()
                self._sender = None

    def notify(self, recipient: str) -> None:
        import psycopg

        try:
            with self._sender_lock:
                if self._sender is None or self._sender.closed:
                    self._sender = psycopg.connect(self.conninfo, autocommit=True)
                self._sender.execute("SELECT pg_notify(%s, '')", [channel_for(recipient)])
        except Exception as exc:
            # The safety poll still delivers; a failed wake must not fail a send.
            log.warning("could not wake %s via pg_notify: %s", recipient, exc)
            self._sender = None


def _listen_on_a_thread(conn: Any, self_name: str, on_wake: Callable[[], None]) -> Disposer:
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            try:
                for _ in conn.notifies(timeout=STOP_CHECK_SECONDS):
                    on_wake()
            except Exception as exc:
                if not stop.is_set():
                    log.warning("pg-notify listener for %s stopped: %s", self_name, exc)
                return

    thread = threading.Thread(target=listen, name=f"agentbus-listen-{self_name}", daemon=True)
    thread.start()

    def dispose() -> None:
        stop.set()
        thread.join(timeout=2)
        conn.close()

    return dispose
