"""A throwaway bus: one AGENTBUS_HOME and one HOME for several sessions, all ended together."""

import os
import tempfile
from pathlib import Path
from typing import Any

from agentbus.manifest import Manifest
from fakeclaude.session import Session


class Sandbox:
    """Sessions that share one bus directory (``bus_home``) and one user HOME (``home``).

    ``start_session("alice")`` launches a named session on this bus; ``close_all()`` ends every
    session it started (stdin EOF, then SIGKILL after ``close_timeout``). Without a ``root`` a
    temporary directory is created and removed by ``close_all()``.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        adapter: str | os.PathLike[str] | Manifest = "claude-mcp",
        close_timeout: float = 3.0,
        client: str | None = None,
        bus_home: str | os.PathLike[str] | None = None,
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="fakeclaude-")
            root = self._tmp.name
        self.root = Path(root)
        #: The sessions' AGENTBUS_HOME: ``bus_home``, else ``root/agentbus-home``.
        self.bus_home = Path(bus_home) if bus_home is not None else self.root / "agentbus-home"
        self.home = self.root / "home"
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.adapter = adapter
        self.close_timeout = close_timeout
        #: The client profile every session speaks as (None: the newest, fakeclaude.profiles.DEFAULT).
        self.client = client
        self.sessions: list[Session] = []

    @property
    def env(self) -> dict[str, str]:
        """The variables every session of this sandbox gets (AGENTBUS_HOME, HOME)."""
        return {"AGENTBUS_HOME": str(self.bus_home), "HOME": str(self.home)}

    def session(
        self, name: str | None, adapter: str | os.PathLike[str] | Manifest | None = None, **kwargs: Any
    ) -> Session:
        """A Session on this bus, not started yet (for tests that want to look before the opening)."""
        kwargs.setdefault("client", self.client)
        kwargs.setdefault("bus_home", self.bus_home)
        kwargs.setdefault("home", self.home)
        session = Session(adapter if adapter is not None else self.adapter, name=name, **kwargs)
        self.sessions.append(session)
        return session

    def start_session(
        self,
        name: str | None,
        adapter: str | os.PathLike[str] | Manifest | None = None,
        *,
        timeout: float = 30.0,
        **kwargs: Any,
    ) -> Session:
        """Start a session named ``name`` (AGENTBUS_NAME) on this bus; Session kwargs pass through."""
        return self.session(name, adapter, **kwargs).start(timeout)

    def start_sessions(self, *names: str, timeout: float = 30.0, **kwargs: Any) -> list[Session]:
        """Start several sessions with the same kwargs; the processes boot in parallel, then each opens."""
        sessions = [self.session(name, **kwargs).launch() for name in names]
        return [session.open(timeout) for session in sessions]

    def close_all(self) -> dict[str, Any]:
        """Close every session (kill the stubborn ones); returns name -> CloseResult."""
        results: dict[str, Any] = {}
        for session in self.sessions:  # EOF to all first, so their exits overlap
            if session.close_result is None:
                session.close_stdin()
        for index, session in enumerate(self.sessions):
            key = session.name if session.name not in results and session.name else f"#{index}"
            try:
                results[key] = session.close(self.close_timeout)
            except Exception as exc:  # keep closing the others
                results[key] = exc
                session.kill()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return results

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_all()
