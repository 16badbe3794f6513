"""The SQLite bus file: its integrity and its schema revision, read over a read-only connection."""

import sqlite3

from agentbus.cli.doctor.location import searchable
from agentbus.cli.doctor.model import Check, Context, Status
from agentbus.core.readonly import connect_readonly
from agentbus.core.revisions import SCHEMA_HEAD, SCHEMA_REVISIONS
from agentbus.core.seed import inspect_seed_bus


def check_integrity(ctx: Context) -> list[Check]:
    """The default bus file: PRAGMA quick_check and the schema revision (nothing while it does not exist)."""
    settings = ctx.settings
    assert settings is not None
    db = settings.db_path
    if not searchable(settings.home):  # missing, or not a directory you can look into: see bus.location
        return []
    if not db.exists():
        if settings.home.exists():
            return [
                Check("bus.integrity", "integrity", "info", "no bus.db yet (created when the first session starts)")
            ]
        return []
    corrupt_hint = f"move it aside (its mail is lost): mv {db} {db}.corrupt; a fresh bus is created on next start"
    try:
        conn = connect_readonly(db, timeout=settings.busy_timeout_seconds)
        try:
            rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check").fetchall()]
            tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            revision = None
            if "alembic_version" in tables:
                found = conn.execute("SELECT version_num FROM alembic_version").fetchone()
                revision = str(found[0]) if found else None
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        message = str(exc)
        if "locked" in message or "busy" in message:
            return [Check("bus.integrity", "integrity", "warn", f"bus.db is locked: {message}", "run doctor again")]
        return [Check("bus.integrity", "integrity", "fail", f"bus.db is unreadable: {message}", corrupt_hint)]
    if rows != ["ok"]:
        return [
            Check(
                "bus.integrity",
                "integrity",
                "fail",
                f"bus.db is damaged: {rows[0]}",
                corrupt_hint,
                {"quick_check": rows[:20]},
            )
        ]
    checks = [Check("bus.integrity", "integrity", "pass", f"quick_check ok ({db.stat().st_size} bytes)")]
    seed = inspect_seed_bus(db) if revision is None and tables else None
    if seed is not None:
        checks.append(Check("bus.schema", "schema", "fail", seed.sentence().split("; ")[0], "run: agentbus migrate"))
        return checks
    checks.append(schema_check(revision, tables, "bus.db", f"move it aside: mv {db} {db}.unknown"))
    # An older schema (a bus the next session migrates) lacks columns the peer and mail checks read.
    ctx.bus_readable = revision == SCHEMA_HEAD
    return checks


def schema_check(revision: str | None, tables: set[str], what: str, foreign_hint: str, empty: Status = "warn") -> Check:
    if revision is None:
        if not tables:
            return Check(
                "bus.schema",
                "schema",
                empty,
                f"{what} is empty (never set up)",
                "it is set up when the next session starts",
            )
        return Check(
            "bus.schema",
            "schema",
            "fail",
            f"{what} has tables but no alembic_version: not an agentbus bus",
            foreign_hint,
        )
    if revision == SCHEMA_HEAD:
        return Check("bus.schema", "schema", "pass", f"schema {revision} (current)")
    if revision in SCHEMA_REVISIONS:
        return Check(
            "bus.schema",
            "schema",
            "warn",
            f"schema {revision}, older than {SCHEMA_HEAD}",
            "it is migrated when the next session starts",
        )
    return Check(
        "bus.schema",
        "schema",
        "fail",
        f"schema {revision!r} is unknown to this agentbus (it knows {', '.join(SCHEMA_REVISIONS)})",
        "a newer agentbus wrote this bus: upgrade agentbus",
    )
