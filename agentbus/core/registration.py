"""One session's registration on the bus: joined once, renamed or joined again while it runs, left once."""

import logging
from typing import Any, Protocol

from agentbus.core.errors import BusError
from agentbus.core.records import Peer

log = logging.getLogger(__name__)


class Registrar(Protocol):
    """What a registration writes through: a ``Bus``, or a SQLite ``BusFile`` before the Bus is built."""

    def register_unique(self, preferred: str, **kwargs: Any) -> Peer: ...

    def unregister(self, name: str, session_id: str, *, deadline: float | None = None) -> None: ...


class Registration:
    """The peer row a session holds. Whoever calls ``join`` calls ``leave``; ``leave`` is safe to repeat."""

    def __init__(self, bus: Registrar, *, session_id: str, adapter: str) -> None:
        self.bus = bus
        self.session_id = session_id
        self.adapter = adapter
        #: The row as last registered or renamed; None until ``join``.
        self.peer: Peer | None = None
        self._left = False

    def join(self, preferred: str, *, can_push: bool = False, receipts: bool = False, door: str | None = None) -> Peer:
        """Register as ``preferred`` (``preferred-2``... if a live peer holds it); BusError if it cannot."""
        peer = self.bus.register_unique(
            preferred,
            session_id=self.session_id,
            adapter=self.adapter,
            can_push=can_push,
            receipts=receipts,
            door=door,
        )
        if peer.name != preferred:
            log.warning("name %r is held by a live session; registered as %r", preferred, peer.name)
        self.peer = peer
        self._left = False
        return peer

    def leave(self, *, deadline: float | None = None) -> None:
        """Unregister the current name (once); a bus error is logged, not raised. ``deadline``: seconds
        to wait for the bus's write lock (the busy timeout if None; shorter at exit)."""
        if self.peer is None or self._left:
            return
        self._left = True
        try:
            self.bus.unregister(self.peer.name, self.session_id, deadline=deadline)
        except BusError as exc:
            log.warning("could not unregister %s: %s", self.peer.name, exc)
