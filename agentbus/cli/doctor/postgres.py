"""A PostgreSQL bus: the server, the schema, the role's privileges, and who LISTENs for pg-notify."""

import re
import time

from agentbus.cli.busfiles import hide_password, scrub
from agentbus.cli.doctor.model import Check, Context
from agentbus.cli.doctor.sqlite import schema_check
from agentbus.core.config import Settings
from agentbus.core.readonly import readonly_engine
from agentbus.core.revisions import SCHEMA_HEAD

TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")

BUS_TABLES = ("peers", "messages")


def db_error(exc: BaseException, settings: Settings) -> str:
    orig = getattr(exc, "orig", None)
    text_ = str(orig if orig is not None else exc) or type(exc).__name__
    return scrub(" ".join(text_.split()), settings)


def _server_hint(message: str, settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(settings.url)
    psql = url._replace(drivername="postgresql", password=None).render_as_string(hide_password=True)
    lowered = message.lower()
    if "does not exist" in lowered and "database" in lowered:
        return (
            f"create it: createdb -h {url.host or 'localhost'} -p {url.port or 5432} -U {url.username or '$USER'} "
            f"{url.database}; agentbus sets up its tables when the first session starts"
        )
    if "password" in lowered or "authentication" in lowered or ("role" in lowered and "does not exist" in lowered):
        return f"check the user and password in AGENTBUS_DB_URL (or ~/.pgpass); try: psql '{psql}'"
    return f"check that the server runs and accepts connections, and AGENTBUS_DB_URL; try: psql '{psql}'"


def _privilege_list(missing: list[str]) -> str:
    """``["SELECT on peers", "INSERT on peers", ...]`` as ``SELECT, INSERT on peers; ...`` (first-seen order)."""
    grouped: dict[str, list[str]] = {}
    for item in missing:
        privilege, _, target = item.partition(" on ")
        grouped.setdefault(target, []).append(privilege)
    return "; ".join(f"{', '.join(privileges)} on {target}" for target, privileges in grouped.items())


def check_database(ctx: Context) -> list[Check]:
    """A PostgreSQL bus: the server (connectivity, version), the schema revision and the role's privileges."""
    settings = ctx.settings
    assert settings is not None
    ctx.bus_readable = False
    from sqlalchemy import text

    started = time.monotonic()
    try:
        engine = readonly_engine(settings)
    except Exception as exc:  # a bad URL, or the driver is not installed
        ctx.server_reachable = False
        message = db_error(exc, settings)
        missing_driver = isinstance(exc, ImportError) or "psycopg" in message
        hint = "install the driver: pip install 'psycopg[binary]'" if missing_driver else "fix AGENTBUS_DB_URL"
        return [Check("bus.server", "server", "fail", f"cannot use AGENTBUS_DB_URL: {message}", hint)]
    try:
        with engine.connect() as conn:
            version, database, user, schema, can_create = conn.execute(
                text(
                    "SELECT current_setting('server_version'), current_database(), current_user, current_schema(), "
                    "has_schema_privilege(current_schema(), 'CREATE')"
                )
            ).one()
            elapsed = time.monotonic() - started
            # pg_class, not information_schema: the latter hides tables the role has no privilege on.
            tables = {
                str(r[0])
                for r in conn.execute(
                    text(
                        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
                    )
                )
            }
            revision = None
            missing: list[str] = []
            if "alembic_version" in tables:
                if conn.execute(text("SELECT has_table_privilege('alembic_version', 'SELECT')")).scalar():
                    found = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                    revision = str(found) if found is not None else None
                else:
                    missing.append("SELECT on alembic_version")
            for table in (t for t in BUS_TABLES if t in tables):
                for privilege in TABLE_PRIVILEGES:
                    held = conn.execute(text("SELECT has_table_privilege(:t, :p)"), {"t": table, "p": privilege})
                    if not held.scalar():
                        missing.append(f"{privilege} on {table}")
            sequence = None
            if "messages" in tables:
                sequence = conn.execute(text("SELECT pg_get_serial_sequence('messages', 'id')")).scalar()
                if (
                    sequence
                    and not conn.execute(text("SELECT has_sequence_privilege(:s, 'USAGE')"), {"s": sequence}).scalar()
                ):
                    missing.append(f"USAGE on sequence {sequence}")
    except Exception as exc:  # doctor reports every way the server cannot be reached, never crashes on it
        ctx.server_reachable = False
        message = db_error(exc, settings)
        summary = f"cannot connect to the PostgreSQL bus at {hide_password(settings.url)}: {message}"
        return [Check("bus.server", "server", "fail", summary, _server_hint(message, settings))]
    finally:
        engine.dispose()
    short_version = str(version).split()[0]
    details = {"version": str(version), "database": database, "user": user, "schema": schema}
    checks = [
        Check(
            "bus.server",
            "server",
            "pass",
            f"PostgreSQL {short_version}: connected to database {database} as {user} in {elapsed * 1000:.0f} ms",
            "",
            details,
        )
    ]
    foreign = (
        f"database {database} holds other tables: give agentbus a database of its own "
        f"(createdb agentbus) and point AGENTBUS_DB_URL at it"
    )
    if "alembic_version" in tables and revision is None and missing:
        checks.append(Check("bus.schema", "schema", "info", "cannot read alembic_version (see privileges)"))
    else:
        checks.append(schema_check(revision, tables, f"database {database}", foreign, empty="info"))
    schema_ok = checks[-1].status != "fail"
    if revision is None and not tables:
        if can_create:
            checks.append(
                Check("bus.privileges", "privileges", "pass", f"{user} may create the bus tables in schema {schema}")
            )
        else:
            where = f"schema {schema}" if schema else "any schema on its search_path"
            checks.append(
                Check(
                    "bus.privileges",
                    "privileges",
                    "fail",
                    f"{user} may not create tables in {where} of {database}: the first session cannot set up the bus",
                    f"GRANT CREATE ON SCHEMA {schema or 'public'} TO {user} (PostgreSQL 15 and later no longer "
                    f"grant it to every role), or use a database {user} owns",
                )
            )
        return checks
    if missing:
        grant = f"GRANT SELECT, INSERT, UPDATE, DELETE ON peers, messages TO {user}; GRANT SELECT ON alembic_version"
        grant += f" TO {user}"
        if sequence:
            grant += f"; GRANT USAGE ON SEQUENCE {sequence} TO {user}"
        checks.append(
            Check(
                "bus.privileges",
                "privileges",
                "fail",
                f"{user} lacks {_privilege_list(missing)}: sessions cannot use the bus",
                grant,
                {"missing": missing},
            )
        )
    elif revision is not None:
        checks.append(Check("bus.privileges", "privileges", "pass", f"{user} may read and write peers and messages"))
    ctx.bus_readable = schema_ok and revision == SCHEMA_HEAD and not any(m.startswith("SELECT") for m in missing)
    return checks


def check_listeners(ctx: Context) -> list[Check]:
    """pg-notify: each live peer's session LISTENs on its channel (seen in pg_stat_activity)."""
    settings = ctx.settings
    assert settings is not None
    if not ctx.server_reachable or not ctx.bus_readable:
        return []
    from sqlalchemy import text

    from agentbus.triggers.pg_notify import channel_for

    engine = readonly_engine(settings)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                )
            ).all()
    except Exception as exc:  # the wake-up check is advisory; the lines above cover connectivity
        return [Check("wake", "wake", "info", f"pg-notify: cannot list sessions: {db_error(exc, settings)}")]
    finally:
        engine.dispose()
    listening: set[str] = set()
    hidden = 0
    for (query,) in rows:
        match = re.match(r'\s*LISTEN\s+"?([^";]+)"?', str(query or ""), re.I)
        if match:
            listening.add(match.group(1))
        elif str(query or "").startswith("<insufficient privilege>"):
            hidden += 1
    missing = [p.name for p in ctx.live if channel_for(p.name) not in listening]
    if missing and hidden:
        return [
            Check(
                "wake",
                "wake",
                "info",
                f"pg-notify: cannot see what {hidden} session(s) of other roles listen on",
                "grant pg_read_all_stats to check that every live peer's trigger is armed",
            )
        ]
    if missing:
        return [
            Check(
                "wake",
                "wake",
                "warn",
                f"no LISTEN on {channel_for('<name>')} for live peer(s) {', '.join(missing)}: "
                "their trigger is not armed",
                "their mail still arrives through the safety poll (every few seconds); restart those sessions",
            )
        ]
    each = f"; each of {len(ctx.live)} live peer(s) listens on its channel" if ctx.live else ""
    return [Check("wake", "wake", "pass", f"pg-notify: wake-ups by NOTIFY {channel_for('<name>')}{each}")]
