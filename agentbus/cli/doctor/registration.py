"""How Claude Code is told to start each adapter: its registration in every scope, and the bus it names."""

import os
import shutil

from agentbus.cli import claude_config as cc
from agentbus.cli.busfiles import (
    hide_password,
)
from agentbus.cli.doctor.model import Check, Context, tilde
from agentbus.manifest import Manifest

MCP_KIND = "mcp-server"


def mcp_manifests(ctx: Context) -> list[Manifest]:
    return [m for m in ctx.manifests if m.register.get("kind", MCP_KIND) == MCP_KIND]


def suffix(ctx: Context, manifest: Manifest) -> str:
    return f".{manifest.id}" if len(mcp_manifests(ctx)) > 1 else ""


def _resolve_program(program: str, env: dict[str, str]) -> str | None:
    if os.path.isabs(program):
        return program if os.path.isfile(program) and os.access(program, os.X_OK) else None
    return shutil.which(program, path=env.get("PATH"))


def _expected(manifest: Manifest) -> list[str] | None:
    try:
        entry = cc.server_entry(manifest.command)
    except cc.ConfigError:
        return None
    return [str(entry["command"]), *manifest.command[1:]]


def check_registration(ctx: Context, manifest: Manifest) -> tuple[list[Check], list[str] | None, dict[str, str]]:
    """Lines for each scope, plus the command (and env) the startup check should run."""
    name = manifest.server_name
    sfx = suffix(ctx, manifest)
    checks: list[Check] = []
    chosen: list[str] | None = None
    chosen_env: dict[str, str] = {}
    any_registered = False
    regs = [cc.registration(scope, name, ctx.env, ctx.cwd) for scope in cc.SCOPES]
    local = cc.local_scope_entry(name, ctx.env, ctx.cwd)
    if local is not None:
        regs.append(cc.Registration("project", cc.user_config_path(ctx.env), True, entry=local))
    labels = ["user scope", "project scope", "local scope"]
    for label, reg in zip(labels, regs, strict=False):
        check_id = f"registration.{label.split()[0]}{sfx}"
        where = tilde(reg.path, ctx.env)
        if reg.error:
            checks.append(
                Check(
                    check_id,
                    "registration",
                    "fail",
                    f"{label}: {reg.error}",
                    f"fix the JSON by hand, or restore {where}{cc.BACKUP_SUFFIX} if agentbus made one",
                )
            )
            continue
        if not reg.registered:
            continue
        any_registered = True
        command = reg.command()
        entry = reg.entry if isinstance(reg.entry, dict) else {}
        if command is None or entry.get("type", "stdio") != "stdio":
            checks.append(
                Check(
                    check_id,
                    "registration",
                    "fail",
                    f"{label}: the {name!r} entry in {where} is not a stdio command: {reg.entry!r}",
                    f"re-register: agentbus disable {manifest.id} && agentbus enable {manifest.id}",
                )
            )
            continue
        shown = " ".join(command)
        details = {"path": str(reg.path), "command": command}
        if _resolve_program(command[0], ctx.env) is None:
            checks.append(
                Check(
                    check_id,
                    "registration",
                    "fail",
                    f"{label}: registered command {command[0]} does not exist (in {where})",
                    f"its environment moved or was deleted; re-register this install: agentbus enable {manifest.id}",
                    details,
                )
            )
            chosen = chosen or []
            continue
        expected = _expected(manifest)
        if expected is not None and not cc.same_command(command, expected) and label != "local scope":
            checks.append(
                Check(
                    check_id,
                    "registration",
                    "warn",
                    f"{label}: {where} runs {shown}, not this install ({' '.join(expected)})",
                    f"to use this install: agentbus enable {manifest.id}"
                    + (" --scope project" if label == "project scope" else ""),
                    details,
                )
            )
        else:
            checks.append(Check(check_id, "registration", "pass", f"{label}: {where} → {shown}", "", details))
        if chosen is None:
            chosen = command
            env_entry = entry.get("env")
            chosen_env = {str(k): str(v) for k, v in env_entry.items()} if isinstance(env_entry, dict) else {}
    if not any_registered:
        if checks:  # a config file we cannot read: "not registered" would be a guess
            return checks, list(manifest.command), {}
        checks.append(
            Check(
                f"registration{sfx}",
                "registration",
                "fail",
                f"{manifest.id} is not registered with Claude Code (no {name!r} in ~/.claude.json or ./.mcp.json)",
                f"run: agentbus enable {manifest.id}",
            )
        )
        return checks, list(manifest.command), {}
    return checks, chosen, chosen_env


def check_registered_bus(ctx: Context, entry_env: dict[str, str]) -> list[Check]:
    """Warn when the registered command points its sessions at another bus than this shell's."""
    assert ctx.settings is not None
    mine = ctx.settings.db_url
    registered = entry_env.get("AGENTBUS_DB_URL")
    if registered is None or registered == (mine or ""):
        return []
    here = hide_password(mine) if mine else "the SQLite file"
    return [
        Check(
            "bus.registered",
            "bus",
            "warn",
            f"the registered command sets AGENTBUS_DB_URL={hide_password(registered)}, but this shell uses {here}: "
            "the lines below check this shell's bus, not the one your sessions use",
            f"run doctor against the sessions' bus: AGENTBUS_DB_URL='{hide_password(registered)}' agentbus doctor",
        )
    ]
