"""Bring a bus up to the current schema; cheap when it already is (Alembic is imported lazily).

A fresh (empty) database gets the head schema from ``schema.metadata`` and its revision stamped, in
one transaction: Alembic's own recipe for a new database, without Alembic's ~200 ms import on a
machine's first start. Alembic runs the revisions of a bus at an older one. A test checks that both
give the same tables, columns, defaults and indexes.
"""

from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from agentbus.core.config import Backend, Settings
from agentbus.core.engine import WRITE_OPTION, enable_wal, make_engine, setup_lock, translate_db_error
from agentbus.core.errors import BusUnavailable
from agentbus.core.revisions import SCHEMA_HEAD, SCHEMA_REVISIONS
from agentbus.core.schema import metadata
from agentbus.core.seed import inspect_seed_bus

MIGRATIONS = Path(__file__).with_name("migrations")
#: The version table as Alembic creates it.
ALEMBIC_VERSION_TABLE = (
    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def refuse_foreign_tables(engine: Engine) -> None:
    """A database without a schema revision must be empty of our tables: the seed's bus, or another
    program's, is refused with what it is (alembic would fail on "table peers already exists")."""
    with engine.connect() as conn:
        present = {t for t in ("peers", "messages") if inspect(conn).has_table(t)}
    if not present:
        return
    database = engine.url.database
    if Backend(engine.url.get_backend_name()) is Backend.SQLITE and database:
        seed = inspect_seed_bus(Path(database))
        if seed is not None:
            raise BusUnavailable(seed.sentence())
    where = database or engine.url.render_as_string()
    raise BusUnavailable(
        f"{where} has tables named {', '.join(sorted(present))} but no agentbus schema version: it is not an "
        "agentbus bus; move it away or point AGENTBUS_HOME (or AGENTBUS_DB_URL) elsewhere"
    )


def create_head(engine: Engine) -> None:
    """The head schema and its revision on an empty database, in one write transaction."""
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            metadata.create_all(conn)
            conn.execute(text(ALEMBIC_VERSION_TABLE))
            conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": SCHEMA_HEAD})


def upgrade(engine: Engine, lock_path: Path | None) -> str:
    """Apply pending migrations under the setup lock; return the schema revision now in place."""
    if current_revision(engine) == SCHEMA_HEAD:
        return SCHEMA_HEAD
    with setup_lock(engine, lock_path):
        enable_wal(engine)
        revision = current_revision(engine)
        if revision == SCHEMA_HEAD:
            return revision
        if revision is not None and revision not in SCHEMA_REVISIONS:
            raise BusUnavailable(
                f"the bus has schema revision {revision!r}, which this agentbus does not know "
                f"(it knows {', '.join(SCHEMA_REVISIONS)}); upgrade agentbus"
            )
        if revision is None:
            refuse_foreign_tables(engine)
            create_head(engine)
            return SCHEMA_HEAD
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
    return SCHEMA_HEAD


def migrate_bus(settings: Settings, where: str, lock_path: Path | None) -> tuple[str, Engine]:
    """Bring the bus of ``settings`` to the schema head under the setup lock: the revision now in place,
    and the engine it was done on (the Bus built next reuses it)."""
    engine = make_engine(settings.url, busy_timeout_seconds=settings.busy_timeout_seconds, where=where)
    try:
        return upgrade(engine, lock_path), engine
    except DBAPIError as exc:
        engine.dispose()
        raise translate_db_error(exc, where) from exc
    except BaseException:
        engine.dispose()
        raise
