"""Codex checks: the codex binary and its version, the agentbus table in config.toml, the app-servers of sessions."""

import shutil
from pathlib import Path

from agentbus.cli import codex_config, codex_session
from agentbus.cli.doctor.binaries import version_check
from agentbus.cli.doctor.model import Check, Context, tilde
from agentbus.manifest import Manifest

DEFAULT_MIN_CODEX = "0.169.0"
APP_SERVER_TIMEOUT = 3.0


def codex_manifests(ctx: Context) -> list[Manifest]:
    return [m for m in ctx.manifests if m.register.get("kind") == codex_session.CODEX_KIND]


def check_codex(ctx: Context) -> list[Check]:
    """Nothing when no codex adapter is installed; one INFO line when Codex is neither installed nor enabled."""
    manifests = codex_manifests(ctx)
    if not manifests:
        return []
    manifest = manifests[0]
    program = shutil.which("codex", path=ctx.env.get("PATH"))
    path = codex_config.config_path(ctx.env)
    try:
        table = codex_config.registered(path, manifest.server_name)
    except codex_config.CodexConfigError as exc:
        return [Check("codex.registration", "codex", "fail", str(exc), "fix the file, then: agentbus enable codex")]
    if program is None and table is None:
        return [
            Check("codex", "codex", "info", "codex is not installed and not enabled (only the codex adapter needs it)")
        ]
    return [_version(ctx, program, manifest), _registration(ctx, path, table, manifest), *_app_servers(ctx)]


def _version(ctx: Context, program: str | None, manifest: Manifest) -> Check:
    wanted = str(manifest.register.get("min_codex_version", DEFAULT_MIN_CODEX))
    if program is None:
        return Check(
            "codex", "codex", "warn", "codex is not on PATH, but agentbus is enabled for it", codex_session.INSTALL_HINT
        )
    return version_check(ctx, "codex", "Codex", program, wanted, "update it: npm install -g @openai/codex@latest")


def _registration(ctx: Context, path: Path, table: dict[str, object] | None, manifest: Manifest) -> Check:
    shown = tilde(path, ctx.env)
    if table is None:
        return Check(
            "codex.registration",
            "codex registration",
            "info",
            f"agentbus is not enabled for Codex in {shown}",
            "agentbus enable codex",
        )
    expected = codex_session.server_keys(manifest)
    forwarded = table.get("env_vars")
    missing = [
        name
        for name in ("AGENTBUS_NAME", "AGENTBUS_CODEX_SOCKET", "AGENTBUS_HOME")
        if not isinstance(forwarded, list) or name not in forwarded
    ]
    if missing:
        return Check(
            "codex.registration",
            "codex registration",
            "fail",
            f"[mcp_servers.{manifest.server_name}] in {shown} does not forward {', '.join(missing)}: "
            "Codex passes its MCP servers only the variables listed in env_vars",
            "agentbus enable codex",
            {"table": table},
        )
    if table.get("command") != expected["command"] or table.get("args") != expected["args"]:
        return Check(
            "codex.registration",
            "codex registration",
            "warn",
            f"[mcp_servers.{manifest.server_name}] in {shown} starts another install: "
            f"{table.get('command')} {table.get('args')}",
            "agentbus enable codex (registers this install)",
            {"table": table},
        )
    return Check("codex.registration", "codex registration", "pass", f"enabled in {shown}", "", {"table": table})


def _sockets(ctx: Context) -> list[Path]:
    found: set[Path] = set()
    if ctx.settings is not None:
        for directory in (ctx.settings.home / "codex", codex_session.socket_path(ctx.settings, "x").parent):
            found.update(directory.glob("*.sock") if directory.is_dir() else [])
        if ctx.settings.codex_socket is not None:
            found.add(ctx.settings.codex_socket)
    return sorted(found)


def _app_servers(ctx: Context) -> list[Check]:
    checks = []
    for socket in _sockets(ctx):
        answer = _ask(socket)
        label = f"codex app-server {socket.stem}"
        if answer is None:
            checks.append(
                Check(f"codex.app-server.{socket.stem}", label, "pass", f"{tilde(socket, ctx.env)} answers initialize")
            )
        else:
            checks.append(
                Check(
                    f"codex.app-server.{socket.stem}",
                    label,
                    "fail",
                    f"{tilde(socket, ctx.env)} does not answer: {answer}",
                    "a session that is gone left it: remove the file, or restart that session "
                    "(agentbus launch codex NAME)",
                )
            )
    return checks


def _ask(socket: Path) -> str | None:
    """None if the app-server at ``socket`` answers ``initialize``, else why not."""
    import anyio

    from agentbus.adapters.codex.appserver import AppServerClient, AppServerError

    async def ask() -> None:
        client = AppServerClient(socket, timeout=APP_SERVER_TIMEOUT)
        try:
            await client.connect()
        finally:
            await client.close()

    try:
        anyio.run(ask)
    except AppServerError as exc:
        return str(exc)
    return None
