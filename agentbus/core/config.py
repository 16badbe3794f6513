"""Settings of a bus and its peers, read from AGENTBUS_* environment variables with defaults."""

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MAX_BODY = 64 * 1024


def _env_float(env: dict[str, str], key: str, default: float) -> float:
    raw = env.get(key)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{key}={raw!r} is not a number") from None
    if value < 0:
        raise ValueError(f"{key}={raw!r} must not be negative")
    return value


def default_home(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    raw = env.get("AGENTBUS_HOME")
    return Path(raw).expanduser() if raw else Path.home() / ".agentbus"


@dataclass(frozen=True)
class Settings:
    """Every tunable of the bus. Field names map to AGENTBUS_<NAME> environment variables."""

    home: Path = field(default_factory=default_home)
    db_url: str | None = None
    max_body: int = DEFAULT_MAX_BODY
    heartbeat_seconds: float = 15.0
    stale_seconds: float = 45.0
    lease_seconds: float = 30.0
    safety_poll_seconds: float = 3.0
    delivered_ttl_seconds: float = 24 * 3600.0
    busy_timeout_seconds: float = 5.0
    rate_limit_per_minute: int = 600
    #: How long after the client has its tools/list answer an adapter waits before the first push.
    push_settle_seconds: float = 0.5
    #: A push to a peer with receipts that its client has not received this long after is pushed again.
    receipt_grace_seconds: float = 5.0
    #: Pushes of one message without a receipt after which it is not pushed again (it stays "pushed").
    receipt_max_pushes: int = 5

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
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> "Settings":
        env = dict(os.environ) if env is None else env
        values: dict[str, object] = {
            "home": default_home(env),
            "db_url": env.get("AGENTBUS_DB_URL") or None,
            "max_body": int(_env_float(env, "AGENTBUS_MAX_BODY", DEFAULT_MAX_BODY)),
            "heartbeat_seconds": _env_float(env, "AGENTBUS_HEARTBEAT_SECONDS", 15.0),
            "stale_seconds": _env_float(env, "AGENTBUS_STALE_SECONDS", 45.0),
            "lease_seconds": _env_float(env, "AGENTBUS_LEASE_SECONDS", 30.0),
            "safety_poll_seconds": _env_float(env, "AGENTBUS_SAFETY_POLL_SECONDS", 3.0),
            "delivered_ttl_seconds": _env_float(env, "AGENTBUS_DELIVERED_TTL_SECONDS", 24 * 3600.0),
            "busy_timeout_seconds": _env_float(env, "AGENTBUS_BUSY_TIMEOUT_SECONDS", 5.0),
            "rate_limit_per_minute": int(_env_float(env, "AGENTBUS_RATE_LIMIT_PER_MINUTE", 600)),
            "push_settle_seconds": _env_float(env, "AGENTBUS_PUSH_SETTLE_SECONDS", 0.5),
            "receipt_grace_seconds": _env_float(env, "AGENTBUS_RECEIPT_GRACE_SECONDS", 5.0),
            "receipt_max_pushes": max(1, int(_env_float(env, "AGENTBUS_RECEIPT_MAX_PUSHES", 5))),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
