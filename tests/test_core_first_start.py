"""A machine's first start: the head schema on an empty bus, and ten adapters starting on it at once."""

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, inspect

from agentbus.core import Bus, Settings, migrate
from agentbus.core.engine import WRITE_OPTION
from agentbus.core.revisions import SCHEMA_HEAD, SCHEMA_REVISIONS
from fakeclaude import Sandbox


def test_the_revisions_are_the_migrations() -> None:
    """One revision per Alembic migration, in order: the head a starting adapter compares with is the last."""
    scripts = sorted(path.name for path in (Path(migrate.MIGRATIONS) / "versions").glob("[0-9]*.py"))
    assert tuple(name.split("_", 1)[0] for name in scripts) == SCHEMA_REVISIONS
    assert SCHEMA_REVISIONS[-1] == SCHEMA_HEAD


def _shape(engine: Engine) -> dict[str, Any]:
    """Tables, columns (type, nullability, server default), primary keys and indexes, as the database reports them."""
    found = inspect(engine)
    shape: dict[str, Any] = {}
    for table in sorted(found.get_table_names()):
        shape[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c["default"]).strip("'") if c["default"] else None)
                for c in found.get_columns(table)
            ],
            "primary_key": found.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in found.get_indexes(table)
            ),
        }
    return shape


def _alembic_head(engine: Engine) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            config.attributes["connection"] = conn
            command.upgrade(config, "head")


def test_a_fresh_bus_gets_the_schema_the_migrations_build(tmp_path: Path) -> None:
    """migrate.create_head (a fresh bus, no Alembic import) and Alembic's revisions 0001..head agree."""
    created = create_engine(f"sqlite:///{tmp_path / 'created.db'}")
    migrated = create_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    try:
        migrate.create_head(created)
        _alembic_head(migrated)
        assert migrate.current_revision(created) == migrate.current_revision(migrated) == SCHEMA_HEAD
        assert _shape(created) == _shape(migrated)
    finally:
        created.dispose()
        migrated.dispose()


def test_ten_adapters_start_at_once_on_a_fresh_bus(isolated_env: dict[str, str], tmp_path: Path) -> None:
    """Ten real adapters asking for one name race the first migration; each answers initialize
    registered (PRES-1) under a name of its own, and the bus ends at the schema head."""
    sandbox = Sandbox(root=tmp_path / "sandbox")
    extra = {"AGENTBUS_DB_URL": isolated_env["AGENTBUS_DB_URL"]} if "AGENTBUS_DB_URL" in isolated_env else {}
    try:
        launched = [sandbox.session("crew", env=extra, as_claude=False).launch() for _ in range(10)]
        sessions = [session.open(60) for session in launched]
        names = {session.call_tool("whoami", {}).structured["name"] for session in sessions}
        assert names == {"crew"} | {f"crew-{n}" for n in range(2, 11)}
        settings = Settings.from_env({**isolated_env, "AGENTBUS_HOME": str(sandbox.bus_home)})
        with Bus.open(settings) as bus:
            assert bus.schema_revision == SCHEMA_HEAD
            assert sorted(p.name for p in bus.peers()) == sorted(names)
    finally:
        sandbox.close_all()
