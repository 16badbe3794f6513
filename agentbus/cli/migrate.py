"""``agentbus migrate``: carry the mail of a TypeScript agentbus bus over to this agentbus."""

import typer

from agentbus.cli.app import CliError, command
from agentbus.cli.output import Output
from agentbus.cli.seed_migration import migrate_seed_bus
from agentbus.core.config import Backend, Settings
from agentbus.core.seed import inspect_seed_bus


@command("migrate")
def migrate(
    force: bool = typer.Option(False, "--force", help="Migrate even if the seed's peers table lists live pids."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be carried over; change nothing."),
) -> None:
    """Replace a bus of the TypeScript agentbus (same path, its own schema) by one of this agentbus,
    keeping every message; the old file stays beside it as a backup."""
    out = Output()
    settings = Settings.from_env()
    if settings.backend is not Backend.SQLITE:
        raise CliError("the TypeScript agentbus only ever used a SQLite file; AGENTBUS_DB_URL names another database")
    seed = inspect_seed_bus(settings.db_path)
    if seed is None:
        where = settings.db_path
        what = "there is no bus" if not where.exists() else "it is not a bus of the TypeScript agentbus"
        raise CliError(f"nothing to migrate at {where}: {what}")
    if dry_run:
        out.line(
            f"{seed.sentence().split(';')[0]}; `agentbus migrate` would carry over {seed.pending} pending "
            f"and {seed.delivered} delivered message(s)"
        )
        return
    done = migrate_seed_bus(settings.home, force=force)
    out.line(f"migrated {done.bus}: {done.pending} pending and {done.delivered} delivered message(s) carried over")
    out.line(f"the TypeScript agentbus's file is kept as {done.backup}")
    for old, new in sorted(done.renamed.items()):
        out.note(f"the name {old!r} is not a valid agentbus name; its mail is under {new!r}")
