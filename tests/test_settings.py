"""Settings: each AGENTBUS_* variable parsed once, blank means the default, and the backend of the URL."""

import dataclasses
from pathlib import Path

import pytest

from agentbus.core.config import Backend, Settings


def test_each_field_is_read_from_its_own_variable() -> None:
    for each in dataclasses.fields(Settings):
        assert each.metadata["env"] == f"AGENTBUS_{each.name.upper()}"


def test_unset_or_blank_means_the_default(tmp_path: Path) -> None:
    blank = {each.metadata["env"]: "  " for each in dataclasses.fields(Settings)}
    home = {"AGENTBUS_HOME": str(tmp_path)}
    assert Settings.from_env({**blank, **home}) == Settings.from_env(home) == Settings(home=tmp_path)


def test_values_are_parsed(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "AGENTBUS_HOME": "~/elsewhere",
            "AGENTBUS_TRIGGER": " Poll ",
            "AGENTBUS_POLL_SECONDS": "0.05",
            "AGENTBUS_PUSH": "OFF",
            "AGENTBUS_LOG_LEVEL": "debug",
            "AGENTBUS_APPROVER": " lead ",
            "AGENTBUS_MAX_BODY": "1024.0",
            "AGENTBUS_RECEIPT_MAX_PUSHES": "0",
        }
    )
    assert settings.home == Path("~/elsewhere").expanduser()
    assert (settings.trigger, settings.poll_seconds, settings.push) == ("poll", 0.05, "off")
    assert (settings.log_level, settings.approver) == ("DEBUG", "lead")
    assert (settings.max_body, settings.receipt_max_pushes) == (1024, 1)
    assert Settings().home == Path.home() / ".agentbus"


def test_a_bad_number_names_the_variable() -> None:
    with pytest.raises(ValueError, match="AGENTBUS_POLL_SECONDS='often' is not a number"):
        Settings.from_env({"AGENTBUS_POLL_SECONDS": "often"})


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        (None, Backend.SQLITE),
        ("sqlite:////tmp/x.db", Backend.SQLITE),
        ("postgresql+psycopg://me@db/bus", Backend.POSTGRESQL),
        ("postgresql://me@db/bus", Backend.POSTGRESQL),
    ],
)
def test_the_backend_is_a_property_of_the_url(tmp_path: Path, url: str | None, backend: Backend) -> None:
    assert Settings(home=tmp_path, db_url=url).backend is backend


def test_another_database_is_refused_without_repeating_the_url(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="names a 'mysql' database; agentbus keeps its bus in SQLite or PostgreSQL"):
        Settings(home=tmp_path, db_url="mysql://me:hunter22@db/bus")
    with pytest.raises(ValueError, match="is not a database URL") as refused:
        Settings.from_env({"AGENTBUS_DB_URL": "hunter22"})
    assert "hunter22" not in str(refused.value)
