"""The kit's settings: each option from the command line, else the environment, else the ini file."""

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentbus.manifest import Manifest
from conformance.databases import Backend
from fakeclaude.profiles import Profile

MANIFEST_KEY = pytest.StashKey[Manifest]()
BACKEND_KEY = pytest.StashKey[Backend]()
CLIENT_KEY = pytest.StashKey[Profile]()
TIER_KEY = pytest.StashKey[str]()
BASELINE_KEY = pytest.StashKey[frozenset[str]]()

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class Settings:
    """``adapter`` (entry-point name or module.json path), ``strict``, ``report`` path, ``rules`` patterns,
    ``db_url`` (admin URL of a PostgreSQL server; None: the SQLite bus file), ``client`` (the
    fakeclaude profile the sessions speak as; None: the newest)."""

    adapter: str | None
    strict: bool
    report: Path | None
    rules: tuple[str, ...]
    db_url: str | None = None
    client: str | None = None
    #: ``wire`` or ``bus`` (SPEC section 13); None: what the manifest claims (default ``bus``).
    tier: str | None = None
    #: A file of rule ids whose failures are known (a baseline); None: no baseline.
    baseline: Path | None = None


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise pytest.UsageError(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no)")


def _pick(config: pytest.Config, option: str, env: str, ini: str) -> str | None:
    value = config.getoption(option, default=None)
    if value not in (None, ""):
        return str(value)
    if os.environ.get(env, "") != "":
        return os.environ[env]
    raw = config.getini(ini)
    return str(raw) if raw not in (None, "", []) else None


def read_settings(config: pytest.Config) -> Settings:
    """Resolve every option: command line wins over the environment, which wins over the ini file."""
    adapter = _pick(config, "agentbus_adapter", "AGENTBUS_ADAPTER", "agentbus_adapter")
    if config.getoption("agentbus_strict", default=False):
        strict = True
    elif os.environ.get("AGENTBUS_STRICT") is not None:
        strict = _bool("AGENTBUS_STRICT", os.environ["AGENTBUS_STRICT"])
    else:
        strict = bool(config.getini("agentbus_strict"))
    report = _pick(config, "agentbus_report", "AGENTBUS_REPORT", "agentbus_report")
    rules = _pick(config, "agentbus_rules", "AGENTBUS_RULES", "agentbus_rules")
    patterns = tuple(p.strip().upper() for p in (rules or "").replace(" ", ",").split(",") if p.strip())
    db_url = _pick(config, "agentbus_db_url", "AGENTBUS_DB_URL", "agentbus_db_url")
    client = _pick(config, "agentbus_client", "AGENTBUS_CLIENT", "agentbus_client")
    tier = _pick(config, "agentbus_tier", "AGENTBUS_TIER", "agentbus_tier")
    baseline = _pick(config, "agentbus_baseline", "AGENTBUS_BASELINE", "agentbus_baseline")
    return Settings(
        adapter=adapter,
        strict=strict,
        report=Path(report) if report else None,
        rules=patterns,
        db_url=db_url.strip() if db_url and db_url.strip() else None,
        client=client.strip() if client and client.strip() else None,
        tier=tier.strip().lower() if tier and tier.strip() else None,
        baseline=Path(baseline) if baseline else None,
    )
