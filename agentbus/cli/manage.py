"""Module management: list, enable, disable, launch and uninstall, generic over adapter manifests."""

import shlex
import shutil
import sys

import typer

from agentbus.cli import claude_config as cc
from agentbus.cli import codex_config, codex_session, gemini_config, gemini_session
from agentbus.cli.app import EXIT_USAGE, CliError, command
from agentbus.cli.busfiles import bus_exists, hide_password, remove_bus
from agentbus.cli.launching import shown_line, start_client
from agentbus.cli.output import Output, display_path
from agentbus.core.bus import Bus
from agentbus.core.config import Settings
from agentbus.core.names import validate_name
from agentbus.manifest import Manifest, ManifestError, installed_adapters, load_manifest, resolve_adapter

MCP_KIND = "mcp-server"
INSTALL_HINT = "install Claude Code (npm install -g @anthropic-ai/claude-code)"
#: Claude Code's flag that loads a server as a development channel (the channel door; SPEC section 8).
CHANNELS_FLAG = "--dangerously-load-development-channels"

ScopeOption = typer.Option(
    "user",
    "--scope",
    "-s",
    help="user: ~/.claude.json (every directory); project: .mcp.json in the current directory.",
)


def _scope(value: str) -> cc.Scope:
    if value not in cc.SCOPES:
        raise CliError(f"unknown scope {value!r}; choose user or project", EXIT_USAGE)
    return value


def _registrable(manifest: Manifest) -> Manifest:
    kind = manifest.register.get("kind", MCP_KIND)
    if kind not in (MCP_KIND, codex_session.CODEX_KIND, gemini_session.GEMINI_KIND):
        raise CliError(
            f"adapter {manifest.id!r} registers as {kind!r}; agentbus can register Claude Code, Codex and Gemini CLI "
            "MCP servers"
        )
    return manifest


def _is_codex(manifest: Manifest) -> bool:
    return manifest.register.get("kind") == codex_session.CODEX_KIND


def _is_gemini(manifest: Manifest) -> bool:
    return manifest.register.get("kind") == gemini_session.GEMINI_KIND


def _user_scope_only(manifest: Manifest, scope: str) -> None:
    if scope != "user":
        where = "~/.gemini/settings.json" if _is_gemini(manifest) else "~/.codex/config.toml"
        raise CliError(f"agentbus registers {manifest.id} in {where} only: use --scope user", EXIT_USAGE)


def _codex_scope(scope: str) -> None:
    if scope != "user":
        raise CliError("Codex reads its MCP servers from ~/.codex/config.toml only: use --scope user", EXIT_USAGE)


def expected_entry(manifest: Manifest) -> dict[str, object]:
    """The mcpServers entry ``enable`` writes for this adapter."""
    return cc.server_entry(manifest.command)


def expected_command(manifest: Manifest) -> list[str] | None:
    """``[command, *args]`` as ``enable`` would register it, or None if it cannot be resolved."""
    try:
        entry = cc.server_entry(manifest.command)
    except cc.ConfigError:
        return None
    return [str(entry["command"]), *manifest.command[1:]]


_display = display_path


def _state(reg: cc.Registration, manifest: Manifest) -> str:
    if reg.error:
        return "unreadable"
    if not reg.registered:
        return "-"
    return "enabled" if cc.same_command(reg.command(), expected_command(manifest)) else "enabled (other command)"


@command("list")
def list_adapters() -> None:
    """Installed adapter modules and whether each is enabled (user and project scope)."""
    out = Output()
    rows: list[list[str]] = []
    for adapter_id, path in sorted(installed_adapters().items()):
        try:
            manifest = load_manifest(path)
        except ManifestError as exc:
            rows.append([adapter_id, f"broken manifest: {exc}", "", "", "", ""])
            continue
        if _is_codex(manifest):
            user = "enabled" if _codex_enabled(manifest) else "-"
            project = "n/a"
        elif _is_gemini(manifest):
            user, project = gemini_config.state(gemini_config.settings_path(), manifest), "n/a"
        elif manifest.register.get("kind", MCP_KIND) != MCP_KIND:
            user = project = "n/a"
        else:
            user = _state(cc.registration("user", manifest.server_name), manifest)
            project = _state(cc.registration("project", manifest.server_name), manifest)
        rows.append([manifest.id, manifest.title, manifest.version, manifest.trigger, user, project])
    if not rows:
        raise CliError("no adapter is installed (the agentbus.adapters entry point group is empty); reinstall agentbus")
    out.table(["ADAPTER", "TITLE", "VERSION", "TRIGGER", "USER", "PROJECT"], rows)


@command("enable")
def enable(
    adapter: str = typer.Argument(..., help="Adapter id (see agentbus list), e.g. claude-mcp."),
    scope: str = ScopeOption,
) -> None:
    """Register an adapter as an MCP server in Claude Code's config (user scope by default)."""
    out = Output()
    manifest = _registrable(resolve_adapter(adapter))
    if _is_codex(manifest):
        _enable_codex(manifest, scope, out)
        return
    if _is_gemini(manifest):
        _user_scope_only(manifest, scope)
        gemini_session.enable(manifest, out)
        return
    where = _scope(scope)
    path = cc.config_path(where)
    change = cc.add_server(path, manifest.server_name, expected_entry(manifest), new_mode=_new_mode(where))
    shown = shlex.join(expected_command(manifest) or manifest.command)
    if change.action == "unchanged":
        out.line(f"{manifest.id} is already enabled in {_display(path)} ({where} scope); nothing changed")
        return
    verb = "registered" if change.action == "added" else "updated"
    out.line(f"enabled {manifest.id}: {verb} MCP server {manifest.server_name!r} in {_display(path)} ({where} scope)")
    out.line(f"  command: {shown}")
    if change.backup is not None:
        out.line(f"  backup:  {_display(change.backup)}")
    launch = manifest.launch or "claude"
    out.line(
        f"next: start sessions as usual (`{launch}`, or `agentbus launch {manifest.id} NAME` to name one); messages "
        "arrive through Claude Code's messaging socket (2.1.224 or newer; older releases need --channels)"
    )
    if shutil.which("claude") is None:
        out.note(f"note: claude is not on PATH; {INSTALL_HINT}")


def _codex_enabled(manifest: Manifest) -> bool:
    try:
        return codex_session.is_enabled(manifest)
    except (codex_config.CodexConfigError, cc.ConfigError):
        return False


def _enable_codex(manifest: Manifest, scope: str, out: Output) -> None:
    _codex_scope(scope)
    path = codex_config.config_path()
    try:
        change = codex_config.add_server(path, manifest.server_name, codex_session.server_keys(manifest))
    except (codex_config.CodexConfigError, cc.ConfigError) as exc:
        raise CliError(str(exc)) from None
    if change.action == "unchanged":
        out.line(f"{manifest.id} is already enabled in {_display(path)}; nothing changed")
        return
    out.line(f"enabled {manifest.id}: {change.action} [mcp_servers.{manifest.server_name}] in {_display(path)}")
    out.line(
        "next: start sessions as usual (`codex`: messages arrive through the app-server its threads run on), or "
        f"`agentbus launch {manifest.id} NAME` for a named session on a private app-server"
    )
    if shutil.which("codex") is None:
        out.note(f"note: codex is not on PATH; {codex_session.INSTALL_HINT}")


def _disable_codex(manifest: Manifest, scope: str, out: Output) -> None:
    _codex_scope(scope)
    path = codex_config.config_path()
    try:
        change = codex_config.remove_server(path, manifest.server_name)
    except codex_config.CodexConfigError as exc:
        raise CliError(str(exc)) from None
    if change.action == "absent":
        out.line(f"{manifest.id} is not enabled in {_display(path)}; nothing changed")
        return
    extra = " (the file held nothing else, so it was deleted)" if change.action == "deleted" else ""
    out.line(f"disabled {manifest.id}: removed [mcp_servers.{manifest.server_name}] from {_display(path)}{extra}")


def _new_mode(scope: cc.Scope) -> int:
    # ~/.claude.json holds account data: private. .mcp.json is meant to be committed and shared.
    return 0o600 if scope == "user" else 0o644


@command("disable")
def disable(
    adapter: str = typer.Argument(..., help="Adapter id, e.g. claude-mcp."),
    scope: str = ScopeOption,
) -> None:
    """Remove the adapter's entry (and nothing else) from Claude Code's config."""
    out = Output()
    manifest = _registrable(resolve_adapter(adapter))
    if _is_codex(manifest):
        _disable_codex(manifest, scope, out)
        return
    if _is_gemini(manifest):
        _user_scope_only(manifest, scope)
        gemini_session.disable(manifest, out)
        return
    where = _scope(scope)
    path = cc.config_path(where)
    change = cc.remove_server(path, manifest.server_name, delete_if_empty=where == "project")
    if change.action == "absent":
        out.line(f"{manifest.id} is not enabled in {_display(path)} ({where} scope); nothing changed")
        return
    extra = " (the file held nothing else, so it was deleted)" if change.action == "deleted" else ""
    out.line(f"disabled {manifest.id}: removed MCP server {manifest.server_name!r} from {_display(path)}{extra}")
    if change.backup is not None:
        out.line(f"  backup:  {_display(change.backup)}")
    out.line("running sessions keep agentbus until they are restarted")


def _running_sessions(settings: Settings) -> list[str]:
    """Names of live peers, read without changing the bus; empty if it cannot be read."""
    if not bus_exists(settings):
        return []
    try:
        with Bus.open_readonly(settings) as bus:
            return [p.name for p in bus.peers()]
    except Exception:  # a corrupt bus is about to be removed anyway
        return []


def registered_anywhere(manifest: Manifest) -> bool:
    """Our server is in the user file, this directory's .mcp.json, or Claude Code's local scope."""
    name = manifest.server_name
    if any(cc.registration(scope, name).registered for scope in cc.SCOPES):
        return True
    return cc.local_scope_entry(name) is not None


def launch_command(
    manifest: Manifest, name: str | None, approver: str | None = None, *, channels: bool = False
) -> tuple[list[str], str]:
    """(argv, a shell line a person can paste) that starts a session with this adapter: its manifest's
    ``launch``, plus Claude Code's channels flag with ``channels`` (the channel door, and the permission
    relay that travels on it)."""
    if not manifest.launch:
        raise CliError(f"adapter {manifest.id!r} has no launch command in its manifest")
    argv = shlex.split(manifest.launch)
    if channels:
        argv += [CHANNELS_FLAG, f"server:{manifest.server_name}"]
    return argv, shown_line(argv, {"AGENTBUS_NAME": name, "AGENTBUS_APPROVER": approver})


@command("launch")
def launch(
    adapter: str = typer.Argument(..., help="Adapter id, e.g. claude-mcp."),
    name: str | None = typer.Argument(None, help="This session's name on the bus (AGENTBUS_NAME)."),
    print_only: bool = typer.Option(False, "--print", "-p", help="Print the command instead of running it."),
    approver: str | None = typer.Option(
        None,
        "--approver",
        help="Relay this session's permission prompts to that peer (AGENTBUS_APPROVER; implies --channels).",
    ),
    channels: bool = typer.Option(
        False,
        "--channels",
        help="Claude Code: also load agentbus as a development channel (a warning to confirm at every launch; "
        "the only push door of releases before 2.1.224).",
    ),
) -> None:
    """Start a named session: Claude Code (messages arrive through its messaging socket), or Codex on a
    private app-server with its TUI; --print shows the command instead."""
    out = Output()
    manifest = resolve_adapter(adapter)
    if name is not None:
        validate_name(name, what="session name")
    if _is_codex(manifest):
        if name is None:
            raise CliError("a codex session needs a name: agentbus launch codex NAME", EXIT_USAGE)
        if approver is not None:
            raise CliError("--approver is Claude Code's permission relay; Codex has no such feature", EXIT_USAGE)
        done = codex_session.launch(manifest, name, Settings.from_env(), print_only=print_only)
        if isinstance(done, str):
            out.line(done)
            if not _codex_enabled(manifest):
                out.note("note: codex is not enabled yet; run: agentbus enable codex")
            return
        raise typer.Exit(done)
    if _is_gemini(manifest):
        if approver is not None or channels:
            raise CliError("--approver and --channels are Claude Code's; Gemini CLI has neither", EXIT_USAGE)
        gemini_session.launch(manifest, name, print_only=print_only, out=out)
        return
    if approver is not None:
        validate_name(approver, what="approver")
        if approver == name:
            raise CliError(f"{name} cannot approve its own permission prompts; name another peer")
    argv, _shown = launch_command(manifest, name, approver, channels=channels or approver is not None)
    variables = {"AGENTBUS_NAME": name, "AGENTBUS_APPROVER": approver}
    start_client(
        manifest,
        argv,
        variables,
        enabled=registered_anywhere(manifest),
        print_only=print_only,
        install_hint=INSTALL_HINT,
        out=out,
    )


@command("uninstall")
def uninstall(
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Disable every adapter and remove the bus (database, WAL/SHM, wake files, lock)."""
    out = Output()
    settings = Settings.from_env()
    manifests: list[Manifest] = []
    for adapter_id, path in sorted(installed_adapters().items()):
        try:
            manifests.append(load_manifest(path))
        except ManifestError as exc:
            out.note(f"skipping adapter {adapter_id}: {exc}")
    user_path = cc.user_config_path()
    project_path = cc.project_config_path()
    out.line("agentbus uninstall will:")
    for manifest in manifests:
        if manifest.register.get("kind", MCP_KIND) == MCP_KIND:
            out.line(f"  - remove MCP server {manifest.server_name!r} ({manifest.id}) from {_display(user_path)}")
            if project_path.exists():
                out.line(f"    and from {_display(project_path)}")
        elif _is_gemini(manifest):
            path = gemini_config.settings_path()
            out.line(
                f"  - remove MCP server {manifest.server_name!r} and its hooks ({manifest.id}) from {_display(path)}"
            )
    if settings.db_url:
        out.line(f"  - leave the database at {hide_password(settings.db_url)} alone (AGENTBUS_DB_URL is set)")
    out.line(f"  - delete the bus in {_display(settings.home)} (messages, peers, wake files)")
    running = _running_sessions(settings)
    if running:
        out.line(f"  ! {len(running)} session(s) still running: {', '.join(running)}; restart them afterwards")
    if not yes:
        if not sys.stdin.isatty():
            raise CliError("no terminal to confirm on; run again with --yes to uninstall", EXIT_USAGE)
        if not typer.confirm("proceed?", default=False):
            raise CliError("uninstall cancelled; nothing was changed")
    for manifest in manifests:
        if _is_gemini(manifest):
            if gemini_config.disable(gemini_config.settings_path(), manifest).action == "removed":
                out.line(f"disabled {manifest.id} in {_display(gemini_config.settings_path())}")
            continue
        if manifest.register.get("kind", MCP_KIND) != MCP_KIND:
            continue
        for path, delete_if_empty in ((user_path, False), (project_path, True)):
            change = cc.remove_server(path, manifest.server_name, delete_if_empty=delete_if_empty)
            if change.action in ("removed", "deleted"):
                out.line(f"disabled {manifest.id} in {_display(path)}")
    if settings.db_url is None:
        removal = remove_bus(settings)
        out.line(f"removed {len(removal.removed)} bus file(s) from {_display(settings.home)}")
        if removal.kept:
            kept = ", ".join(p.name for p in removal.kept)
            out.line(f"kept {_display(settings.home)}: it also holds files agentbus did not create ({kept})")
    out.line("done. Restart running Claude Code sessions to drop the loaded agentbus server.")
