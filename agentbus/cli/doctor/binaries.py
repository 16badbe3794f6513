"""A client binary's version, checked against the release agentbus was checked with (Codex, Gemini CLI)."""

import re
import subprocess

from agentbus.cli.doctor.model import Check, Context

VERSION_TIMEOUT = 15.0


def version_check(ctx: Context, check_id: str, label: str, program: str, wanted: str, update_hint: str) -> Check:
    """PASS when ``program --version`` is at least ``wanted``; FAIL when older; WARN when it cannot be read."""
    try:
        done = subprocess.run(
            [program, "--version"], capture_output=True, text=True, timeout=VERSION_TIMEOUT, env=ctx.env, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check(check_id, check_id, "warn", f"{program} --version failed: {exc}", f"reinstall {label}")
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", done.stdout or done.stderr)
    if match is None:
        return Check(check_id, check_id, "warn", f"cannot read the version of {program}", "")
    found = tuple(int(part) for part in match.groups())
    minimum = tuple(int(part) for part in wanted.split("."))
    details = {"path": program, "version": match.group(0)}
    if found < minimum:
        return Check(
            check_id,
            check_id,
            "fail",
            f"{label} {match.group(0)} at {program} is older than {wanted}, the version agentbus was checked against",
            update_hint,
            details,
        )
    return Check(check_id, check_id, "pass", f"{label} {match.group(0)} at {program}", "", details)
