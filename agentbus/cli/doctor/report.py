"""The doctor command: every check in report order, printed as lines or as JSON."""

import os
from pathlib import Path

import typer

from agentbus.cli.app import EXIT_FAILED, command
from agentbus.cli.busfiles import uses_default_file
from agentbus.cli.doctor.codex import check_codex
from agentbus.cli.doctor.environment import check_adapters, check_claude, check_packages, check_python, check_settings
from agentbus.cli.doctor.gemini import check_gemini
from agentbus.cli.doctor.location import check_location
from agentbus.cli.doctor.mail import check_peers
from agentbus.cli.doctor.model import STATUSES, STUCK_AFTER_SECONDS, Check, Context, overall
from agentbus.cli.doctor.postgres import check_database
from agentbus.cli.doctor.registration import check_registered_bus, check_registration, mcp_manifests
from agentbus.cli.doctor.sqlite import check_integrity
from agentbus.cli.doctor.startup import check_startup
from agentbus.cli.doctor.wake import check_wake
from agentbus.cli.output import Output
from agentbus.core.config import Backend


def check_bus(ctx: Context) -> list[Check]:
    """The bus itself, by backend: the SQLite file's integrity, or the PostgreSQL server and privileges."""
    settings = ctx.settings
    assert settings is not None
    if uses_default_file(settings):
        return check_integrity(ctx)
    if settings.backend is Backend.POSTGRESQL:
        return check_database(ctx)
    ctx.bus_readable = True  # a SQLite file named by AGENTBUS_DB_URL: its file checks are skipped
    return []


def run_checks(
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    *,
    spawn: bool = True,
    stuck_after: float = STUCK_AFTER_SECONDS,
) -> list[Check]:
    """Every check, in report order."""
    ctx = Context(
        env=dict(os.environ) if env is None else env, cwd=cwd or Path.cwd(), spawn=spawn, stuck_after=stuck_after
    )
    checks = check_python(ctx) + check_packages(ctx) + check_settings(ctx) + check_adapters(ctx)
    checks += check_claude(ctx)
    registered_envs: list[dict[str, str]] = []
    for manifest in mcp_manifests(ctx):
        lines, command, entry_env = check_registration(ctx, manifest)
        checks += lines
        registered = any(c.id.startswith("registration.") for c in lines)
        checks.append(check_startup(ctx, manifest, command or [], entry_env, registered))
        registered_envs.append(entry_env)
    if ctx.settings is not None:
        checks += check_location(ctx)
        checks += check_registered_bus(ctx, registered_envs[0]) if registered_envs else []
        checks += check_bus(ctx) + check_peers(ctx) + check_wake(ctx)
    return checks + check_codex(ctx) + check_gemini(ctx)


@command("doctor")
def doctor(
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
    no_spawn: bool = typer.Option(False, "--no-spawn", help="Do not start the registered command."),
    stuck_after: float = typer.Option(
        STUCK_AFTER_SECONDS, "--stuck-after", help="Seconds after which pending mail for a live peer is stuck."
    ),
) -> None:
    """Check the runtime, the registration, the bus and its mailboxes; exit 1 if anything is broken."""
    import json

    out = Output()
    checks = run_checks(spawn=not no_spawn, stuck_after=stuck_after)
    worst = overall(checks)
    if as_json:
        payload = {"ok": worst != "fail", "status": worst, "checks": [c.as_dict() for c in checks]}
        out.line(json.dumps(payload, indent=2, default=str))
    else:
        out.line("agentbus doctor", style="bold")
        for check in checks:
            out.status(check.status, check.label, check.summary, check.hint)
        counts = {s: sum(1 for c in checks if c.status == s) for s in STATUSES}
        tally = f"{counts['fail']} failed, {counts['warn']} warning(s), {counts['pass']} passed"
        verdict = "broken" if worst == "fail" else "ok"
        out.line(f"{verdict}: {tally}", style="bold red" if worst == "fail" else "bold green")
    if worst == "fail":
        raise typer.Exit(EXIT_FAILED)
