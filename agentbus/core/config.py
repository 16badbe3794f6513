"""Settings of a bus and its peers: each AGENTBUS_* environment variable, its default and its parser, once."""

import enum
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


class Backend(enum.Enum):
    """The database a bus lives in; the values are SQLAlchemy's dialect names."""

    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"

    @classmethod
    def of_url(cls, url: str) -> "Backend":
        """The backend a database URL names (``sqlite:///...``, ``postgresql+psycopg://...``)."""
        scheme, sep, _ = url.partition("://")
        if not sep:
            # Never repeat the value: it may be a password pasted into the wrong variable.
            raise ValueError("AGENTBUS_DB_URL is not a database URL (dialect://...)")
        dialect = scheme.partition("+")[0].lower()
        try:
            return cls(dialect)
        except ValueError:
            raise ValueError(
                f"AGENTBUS_DB_URL names a {dialect!r} database; agentbus keeps its bus in SQLite or PostgreSQL "
                "(postgresql+psycopg://user@host:port/dbname, or unset it to use the SQLite file)"
            ) from None


def _number(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("is not a number") from None
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _count(raw: str) -> int:
    return int(_number(raw))


def _at_least_one(raw: str) -> int:
    return max(1, _count(raw))


def _path(raw: str) -> Path:
    return Path(raw).expanduser()


def _text(raw: str) -> str:
    return raw


def _word(raw: str) -> str:
    return raw.strip().lower()


def _level(raw: str) -> str:
    return raw.strip().upper()


def _peer_name(raw: str) -> str:
    name = raw.strip().lower()
    if not re.fullmatch(r"[a-z0-9_-]{1,32}", name):
        raise ValueError("is not a peer name: use 1-32 characters from a-z, 0-9, '_' and '-'")
    return name


def env_var(name: str, parse: Callable[[str], Any]) -> dict[str, Any]:
    """The metadata of a Settings field read from ``name`` by ``parse`` (unset or blank: the default).

    ``parse`` raises ValueError with the rest of a sentence ("is not a number"); from_env puts the
    variable and its value in front of it.
    """
    return {"env": name, "parse": parse}


@dataclass(frozen=True)
class Settings:
    """Every setting of the bus, its peers and the CLI; field ``x`` is AGENTBUS_X (README lists them).

    The conformance kit's options (AGENTBUS_ADAPTER, AGENTBUS_STRICT, ...: conformance/settings.py)
    configure a test run, not a bus, and are not here.
    """

    home: Path = field(default=Path("~/.agentbus"), metadata=env_var("AGENTBUS_HOME", _path))
    #: Unset: the SQLite file ``home/bus.db``. Else a ``sqlite:///`` or ``postgresql+psycopg://`` URL.
    db_url: str | None = field(default=None, metadata=env_var("AGENTBUS_DB_URL", _text))
    #: The name a session asks for (the adapter) and the sender of CLI commands run inside one.
    name: str | None = field(default=None, metadata=env_var("AGENTBUS_NAME", _text))
    #: ``file-watch``, ``poll`` or ``pg-notify``; unset: pg-notify on PostgreSQL, else file-watch (make_trigger).
    trigger: str | None = field(default=None, metadata=env_var("AGENTBUS_TRIGGER", _word))
    #: Seconds between the poll trigger's checks.
    poll_seconds: float = field(default=0.5, metadata=env_var("AGENTBUS_POLL_SECONDS", _number))
    #: Which doors the adapter opens: ``auto``, ``on``, ``off`` or a door's name (adapters/doors.py).
    push: str = field(default="auto", metadata=env_var("AGENTBUS_PUSH", _word))
    #: The adapter's log level (it logs to stderr).
    log_level: str = field(default="WARNING", metadata=env_var("AGENTBUS_LOG_LEVEL", _level))
    #: The peer this session's permission prompts go to (the opt-in permission relay, SPEC section 6c).
    approver: str | None = field(default=None, metadata=env_var("AGENTBUS_APPROVER", _peer_name))
    #: The Codex app-server socket a codex session's messages are pushed through (``agentbus launch codex``).
    codex_socket: Path | None = field(default=None, metadata=env_var("AGENTBUS_CODEX_SOCKET", _path))
    #: The gemini adapter: the Gemini process it serves, which its hooks run under (unset: its parent).
    gemini_pid: str | None = field(default=None, metadata=env_var("AGENTBUS_GEMINI_PID", _text))
    max_body: int = field(default=65536, metadata=env_var("AGENTBUS_MAX_BODY", _count))
    heartbeat_seconds: float = field(default=15.0, metadata=env_var("AGENTBUS_HEARTBEAT_SECONDS", _number))
    stale_seconds: float = field(default=45.0, metadata=env_var("AGENTBUS_STALE_SECONDS", _number))
    lease_seconds: float = field(default=30.0, metadata=env_var("AGENTBUS_LEASE_SECONDS", _number))
    safety_poll_seconds: float = field(default=3.0, metadata=env_var("AGENTBUS_SAFETY_POLL_SECONDS", _number))
    delivered_ttl_seconds: float = field(default=86400.0, metadata=env_var("AGENTBUS_DELIVERED_TTL_SECONDS", _number))
    busy_timeout_seconds: float = field(default=5.0, metadata=env_var("AGENTBUS_BUSY_TIMEOUT_SECONDS", _number))
    rate_limit_per_minute: int = field(default=600, metadata=env_var("AGENTBUS_RATE_LIMIT_PER_MINUTE", _count))
    #: How long after the client has its tools/list answer an adapter waits before the first push.
    push_settle_seconds: float = field(default=0.5, metadata=env_var("AGENTBUS_PUSH_SETTLE_SECONDS", _number))
    #: A push to a peer with receipts that its client has not received this long after is pushed again.
    receipt_grace_seconds: float = field(default=5.0, metadata=env_var("AGENTBUS_RECEIPT_GRACE_SECONDS", _number))
    #: Pushes of one message without a receipt after which it is not pushed again (it stays "pushed").
    receipt_max_pushes: int = field(default=5, metadata=env_var("AGENTBUS_RECEIPT_MAX_PUSHES", _at_least_one))

    def __post_init__(self) -> None:
        object.__setattr__(self, "home", Path(self.home).expanduser())
        Backend.of_url(self.url)  # an unsupported AGENTBUS_DB_URL fails here, not at first use

    @property
    def db_path(self) -> Path:
        return self.home / "bus.db"

    @property
    def wake_dir(self) -> Path:
        return self.home / "wake"

    @property
    def url(self) -> str:
        return self.db_url or f"sqlite:///{self.db_path}"

    @property
    def backend(self) -> Backend:
        return Backend.of_url(self.url)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> "Settings":
        """The settings ``env`` (default: this process' environment) gives, then ``overrides``."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for each in fields(cls):
            key = each.metadata["env"]
            raw = env.get(key)
            if raw is None or raw.strip() == "":
                continue
            try:
                values[each.name] = each.metadata["parse"](raw)
            except ValueError as exc:
                raise ValueError(f"{key}={raw!r} {exc}") from None
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
