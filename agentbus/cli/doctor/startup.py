"""The spawn probe: the registered command started like Claude Code starts it, on a throwaway bus."""

import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

from agentbus.cli.doctor.model import Check, Context
from agentbus.cli.doctor.registration import suffix
from agentbus.manifest import Manifest

STARTUP_TIMEOUT = 10.0

CLOSE_TIMEOUT = 3.0

EXPECTED_TOOLS = ("send_message", "list_peers")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def check_startup(
    ctx: Context, manifest: Manifest, command: list[str], entry_env: dict[str, str], registered: bool
) -> Check:
    """Start ``command`` like Claude Code >= 2.1.331 does (server/discover probe, then initialize)."""
    from fakeclaude import FakeClaudeError, Session

    sfx = suffix(ctx, manifest)
    what = "registered command" if registered else "adapter command (not registered)"
    if not command:
        return Check(f"startup{sfx}", "startup", "info", "skipped: the registered command does not exist")
    if not ctx.spawn:
        return Check(f"startup{sfx}", "startup", "info", "skipped (--no-spawn)")
    probe_manifest = dataclasses.replace(manifest, command=tuple(command))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="agentbus-doctor-") as scratch:
        env = {k: v for k, v in ctx.env.items() if not k.startswith("AGENTBUS_")}
        # The probe runs on a scratch SQLite bus: a registered AGENTBUS_DB_URL is checked by the bus
        # lines below, never written to by a doctor-probe session.
        env.update({k: v for k, v in entry_env.items() if k != "AGENTBUS_DB_URL"})
        session = Session(
            probe_manifest,
            name="doctor-probe",
            bus_home=Path(scratch) / "bus",
            env=env,
            inherit_env=False,
            opening="discover",
            cwd=scratch,
        )
        try:
            try:
                session.start(timeout=STARTUP_TIMEOUT)
                tools = [str(t.get("name")) for t in session.list_tools(timeout=STARTUP_TIMEOUT)]
            except FakeClaudeError as exc:
                stderr = _last_line(session.stderr)
                code = session.close_result.exit_code if session.close_result else None
                problem = _first_line(str(exc))
                if code is not None and session.close_result is not None and session.close_result.already_exited:
                    problem = f"exited with code {code} before finishing the MCP handshake"
                summary = f"{what} does not start: {problem}" + (f" (stderr: {stderr})" if stderr else "")
                return Check(
                    f"startup{sfx}",
                    "startup",
                    "fail",
                    summary,
                    f"run it by hand to see why: {' '.join(command)}",
                    {"command": command, "stderr": session.stderr[-2000:]},
                )
            elapsed = time.monotonic() - started
            close = session.close(timeout=CLOSE_TIMEOUT)
        finally:
            session.kill()
    info = session.server_info
    server = f"{info.get('name', '?')} {info.get('version', '')}".strip()
    details: dict[str, Any] = {
        "command": command,
        "server": info,
        "opening": session.opening_used,
        "tools": tools,
        "close": close.describe(),
    }
    if session.opening_used == "discover":
        return Check(
            f"startup{sfx}",
            "startup",
            "fail",
            f"{what} answers the server/discover probe, so Claude Code >= 2.1.331 skips initialize "
            "and never delivers its channel events",
            "the adapter must reject server/discover (method not found) and serve the initialize handshake",
            details,
        )
    if not session.channel_capable:
        return Check(
            f"startup{sfx}",
            "startup",
            "fail",
            f"{what} starts ({server}) but does not declare experimental 'claude/channel': no message would be pushed",
            "this command is not a channel server; re-register: agentbus enable " + manifest.id,
            details,
        )
    missing = [t for t in EXPECTED_TOOLS if t not in tools]
    if missing:
        return Check(
            f"startup{sfx}",
            "startup",
            "warn",
            f"{what} starts with the channel capability but lacks tools: {', '.join(missing)}",
            "check that the registered command is an agentbus adapter",
            details,
        )
    if not close.exited:
        return Check(
            f"startup{sfx}",
            "startup",
            "warn",
            f"{what} works but {close.describe()}: sessions may leave orphan processes",
            "report this as an adapter bug",
            details,
        )
    return Check(
        f"startup{sfx}",
        "startup",
        "pass",
        f"{what} starts in {elapsed:.1f}s: {server}, channel capability, {len(tools)} tools, clean exit",
        "",
        details,
    )
