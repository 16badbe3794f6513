"""Opening a bus at the driver level: the driver a URL gets, decided once, and the schema at its head.

No SQLAlchemy here for a bus at the head (a starting adapter registers before it answers, SPEC PRES-1);
a fresh bus, or one at an older revision, is migrated (migrate.py, which loads SQLAlchemy and Alembic).
"""

from agentbus.core.busfile import BusFile, sqlite_file
from agentbus.core.config import Backend, Settings
from agentbus.core.errors import BusUnavailable
from agentbus.core.pgdriver import PgDriver
from agentbus.core.revisions import SCHEMA_HEAD

Driver = BusFile | PgDriver


def open_driver(settings: Settings) -> Driver:
    """The bus of ``settings`` at the driver level (a SQLite file, or a PostgreSQL database), at the head."""
    driver: Driver
    if settings.backend is Backend.POSTGRESQL:
        driver = PgDriver(settings)
    elif sqlite_file(settings.url) is not None:
        driver = BusFile(settings)
    else:
        raise BusUnavailable(
            f"{settings.url} is not a bus agentbus can share: use a SQLite file (sqlite:///PATH) or PostgreSQL"
        )
    if driver.schema_revision != SCHEMA_HEAD:
        from agentbus.core.migrate import migrate_bus

        try:
            driver.migrated(*migrate_bus(settings, driver.where, driver.migration_lock()))
        except BaseException:
            driver.close()
            raise
    return driver
