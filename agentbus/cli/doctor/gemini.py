"""Gemini CLI checks: the gemini binary and its version, the server and hooks in settings.json, each session's door."""

import shutil

from agentbus.adapters.gemini.hook import EVENTS
from agentbus.cli import gemini_config, gemini_session
from agentbus.cli.doctor.binaries import version_check
from agentbus.cli.doctor.model import Check, Context, tilde
from agentbus.manifest import Manifest

DEFAULT_MIN_GEMINI = "0.61.0"


def check_gemini(ctx: Context) -> list[Check]:
    """Nothing when no gemini adapter is installed; one INFO line when Gemini CLI is neither installed nor enabled."""
    manifests = [m for m in ctx.manifests if m.register.get("kind") == gemini_session.GEMINI_KIND]
    if not manifests:
        return []
    manifest = manifests[0]
    program = shutil.which("gemini", path=ctx.env.get("PATH"))
    state = gemini_config.state(gemini_config.settings_path(ctx.env), manifest)
    if program is None and state == "-":
        return [
            Check(
                "gemini", "gemini", "info", "gemini is not installed and not enabled (only the gemini adapter needs it)"
            )
        ]
    wanted = str(manifest.register.get("min_gemini_version", DEFAULT_MIN_GEMINI))
    if program is None:
        version = Check(
            "gemini",
            "gemini",
            "warn",
            "gemini is not on PATH, but agentbus is enabled for it",
            gemini_session.INSTALL_HINT,
        )
    else:
        version = version_check(
            ctx, "gemini", "Gemini CLI", program, wanted, "update it: npm install -g @google/gemini-cli@latest"
        )
    return [version, _registration(ctx, state, manifest), *_sessions(ctx)]


def _registration(ctx: Context, state: str, manifest: Manifest) -> Check:
    shown = tilde(gemini_config.settings_path(ctx.env), ctx.env)
    label = "gemini registration"
    if state == "enabled":
        return Check("gemini.registration", label, "pass", f"the server and its hooks ({', '.join(EVENTS)}) in {shown}")
    if state == "unreadable":
        return Check(
            "gemini.registration", label, "fail", f"{shown} is not valid JSON", "fix it, then: agentbus enable gemini"
        )
    if state == "partly":
        return Check(
            "gemini.registration",
            label,
            "warn",
            f"{shown} has the agentbus server or some of its hooks, not all: a session misses the boundaries "
            "whose hook is missing (or has no tools)",
            "agentbus enable gemini",
        )
    return Check(
        "gemini.registration",
        label,
        "info",
        f"agentbus is not enabled for Gemini CLI in {shown}",
        "agentbus enable gemini",
    )


def _sessions(ctx: Context) -> list[Check]:
    checks = []
    for peer in ctx.live:
        if peer.adapter != "gemini":
            continue
        if peer.door == "hook":
            checks.append(
                Check(
                    f"gemini.session.{peer.name}",
                    f"gemini session {peer.name}",
                    "pass",
                    "receives at its boundaries (hooks)",
                )
            )
        else:
            checks.append(
                Check(
                    f"gemini.session.{peer.name}",
                    f"gemini session {peer.name}",
                    "warn",
                    "pull only: no Gemini settings file of that session runs the agentbus hook, so its mail waits "
                    "for read_messages",
                    "agentbus enable gemini, then restart that session",
                )
            )
    return checks
