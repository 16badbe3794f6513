"""Gemini CLI on the bus: the adapter and its hooks in ``~/.gemini/settings.json``, and a named session's launch."""

import shlex
import shutil

from agentbus.cli import claude_config as cc
from agentbus.cli import gemini_config
from agentbus.cli.app import CliError
from agentbus.cli.launching import start_client
from agentbus.cli.output import Output, display_path
from agentbus.manifest import Manifest

GEMINI_KIND = "gemini-settings"
INSTALL_HINT = "install Gemini CLI (npm install -g @google/gemini-cli)"


def enable(manifest: Manifest, out: Output) -> None:
    path = gemini_config.settings_path()
    try:
        change = gemini_config.enable(path, manifest)
    except cc.ConfigError as exc:
        raise CliError(str(exc)) from None
    if change.action == "unchanged":
        out.line(f"{manifest.id} is already enabled in {display_path(path)}; nothing changed")
        return
    out.line(
        f"enabled {manifest.id}: {change.action} MCP server {manifest.server_name!r} and its hooks "
        f"(SessionStart, BeforeAgent, AfterTool, AfterAgent) in {display_path(path)}"
    )
    if change.backup is not None:
        out.line(f"  backup:  {display_path(change.backup)}")
    out.line(
        "next: start sessions as usual (`gemini`, or `agentbus launch gemini NAME` to name one); a message reaches "
        "the model at the session's next tool call, prompt or end of turn, never while it sits idle"
    )
    if shutil.which("gemini") is None:
        out.note(f"note: gemini is not on PATH; {INSTALL_HINT}")


def disable(manifest: Manifest, out: Output) -> None:
    path = gemini_config.settings_path()
    try:
        change = gemini_config.disable(path, manifest)
    except cc.ConfigError as exc:
        raise CliError(str(exc)) from None
    if change.action == "absent":
        out.line(f"{manifest.id} is not enabled in {display_path(path)}; nothing changed")
        return
    out.line(
        f"disabled {manifest.id}: removed MCP server {manifest.server_name!r} and its hooks from {display_path(path)}"
    )
    out.line("running sessions keep agentbus until they are restarted")


def is_enabled(manifest: Manifest) -> bool:
    return gemini_config.state(gemini_config.settings_path(), manifest) == "enabled"


def launch(manifest: Manifest, name: str | None, *, print_only: bool, out: Output) -> None:
    """Run ``gemini`` with AGENTBUS_NAME (or print the line)."""
    argv = shlex.split(manifest.launch or "gemini")
    variables = {"AGENTBUS_NAME": name}
    start_client(
        manifest,
        argv,
        variables,
        enabled=is_enabled(manifest),
        print_only=print_only,
        install_hint=INSTALL_HINT,
        out=out,
    )
