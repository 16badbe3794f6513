"""Bring a bus up to the current schema; cheap when it already is (Alembic is imported lazily)."""

from pathlib import Path

from sqlalchemy import Engine, inspect, text

from agentbus.core.engine import WRITE_OPTION, enable_wal, setup_lock
from agentbus.core.errors import BusUnavailable
from agentbus.core.schema import SCHEMA_HEAD, SCHEMA_REVISIONS

MIGRATIONS = Path(__file__).with_name("migrations")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


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
