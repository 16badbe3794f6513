"""The runtime checks: Python, the packages, the AGENTBUS_* settings, the adapters and Claude Code."""

import re
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, requires, version

from agentbus import DISTRIBUTION
from agentbus.cli.doctor.model import Check, Context
from agentbus.cli.doctor.registration import mcp_manifests
from agentbus.core.config import Settings
from agentbus.manifest import ManifestError, installed_adapters, load_manifest

DEFAULT_MIN_CLAUDE = "2.1.80"
#: The first Claude Code that gives its servers a messaging socket: sessions receive without a flag (docs/doors.md).
NATIVE_DOOR_CLAUDE = (2, 1, 224)


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def check_python(ctx: Context) -> list[Check]:
    info = sys.version_info
    summary = f"Python {info.major}.{info.minor}.{info.micro} at {sys.executable}"
    return [Check("python", "python", "pass", summary, details={"executable": sys.executable})]


def _runtime_requirements() -> list[str]:
    """The packages the installed agentbus needs at run time (its requirements without an extra)."""
    try:
        required = requires(DISTRIBUTION) or []
    except PackageNotFoundError:
        return []
    names = [re.split(r"[\s\[<>=!~;]", line, maxsplit=1)[0] for line in required if "extra ==" not in line]
    return [name for name in names if name]


def check_packages(ctx: Context) -> list[Check]:
    names = (DISTRIBUTION, *_runtime_requirements())
    versions = {name: _package_version(name) for name in names}
    missing = [name for name, v in versions.items() if v == "not installed"]
    rest = ", ".join(f"{n} {v}" for n, v in versions.items() if n != DISTRIBUTION)
    summary = f"agentbus {versions[DISTRIBUTION]} ({rest})"
    if missing:
        return [
            Check(
                "packages",
                "packages",
                "fail",
                summary,
                f"reinstall agentbus from its checkout: pip install . ({', '.join(missing)} missing)",
                versions,
            )
        ]
    return [Check("packages", "packages", "pass", summary, details=versions)]


def check_settings(ctx: Context) -> list[Check]:
    try:
        ctx.settings = Settings.from_env(ctx.env)
        from agentbus.triggers import make_trigger

        trigger = make_trigger(ctx.settings)
    except ValueError as exc:
        return [Check("settings", "settings", "fail", str(exc), "fix or unset that AGENTBUS_* variable")]
    ctx.trigger = trigger.name
    custom = sorted(k for k in ctx.env if k.startswith("AGENTBUS_"))
    shown = f"; set: {', '.join(custom)}" if custom else ""
    return [Check("settings", "settings", "pass", f"AGENTBUS_* settings valid (trigger {trigger.name}){shown}")]


def check_adapters(ctx: Context) -> list[Check]:
    checks: list[Check] = []
    found = installed_adapters()
    if not found:
        return [
            Check(
                "adapters",
                "adapters",
                "fail",
                "no adapter installed",
                "reinstall agentbus from its checkout: pip install .",
            )
        ]
    for adapter_id, path in sorted(found.items()):
        try:
            ctx.manifests.append(load_manifest(path))
        except ManifestError as exc:
            checks.append(Check(f"adapter.{adapter_id}", "adapter", "fail", str(exc), "reinstall agentbus"))
    if ctx.manifests:
        listing = ", ".join(f"{m.id} {m.version}" for m in ctx.manifests)
        checks.insert(0, Check("adapters", "adapters", "pass", f"installed: {listing}"))
    return checks


def _parse_version(text: str) -> tuple[int, ...] | None:
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    return tuple(int(part) for part in match.groups()) if match else None


def check_claude(ctx: Context) -> list[Check]:
    wanted_text = max(
        (str(m.register.get("min_claude_version", DEFAULT_MIN_CLAUDE)) for m in mcp_manifests(ctx)),
        key=lambda v: _parse_version(v) or (0,),
        default=DEFAULT_MIN_CLAUDE,
    )
    wanted = _parse_version(wanted_text) or (0,)
    program = shutil.which("claude", path=ctx.env.get("PATH"))
    if program is None:
        return [
            Check(
                "claude",
                "claude",
                "warn",
                "claude is not on PATH (the bus works, but there is no Claude Code to start sessions)",
                f"install Claude Code >= {wanted_text}: npm install -g @anthropic-ai/claude-code",
            )
        ]
    try:
        result = subprocess.run(
            [program, "--version"], capture_output=True, text=True, timeout=10, env=ctx.env, check=False
        )
        output = (result.stdout or result.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [Check("claude", "claude", "warn", f"{program} --version failed: {exc}", "reinstall Claude Code")]
    found = _parse_version(output)
    details = {"path": program, "version": output}
    if found is None:
        return [
            Check("claude", "claude", "warn", f"cannot read the version of {program}: {output[:80]!r}", "", details)
        ]
    shown = ".".join(map(str, found))
    if found < wanted:
        return [
            Check(
                "claude",
                "claude",
                "fail",
                f"Claude Code {shown} at {program} is too old: agentbus needs >= {wanted_text}",
                "update it: claude update (or npm install -g @anthropic-ai/claude-code@latest)",
                details,
            )
        ]
    if found < NATIVE_DOOR_CLAUDE:
        native = ".".join(map(str, NATIVE_DOOR_CLAUDE))
        return [
            Check(
                "claude",
                "claude",
                "warn",
                f"Claude Code {shown} at {program} has no messaging socket: its sessions receive by push only when "
                "started with the channels flag (agentbus launch claude-mcp NAME --channels), else they pull",
                f"update to >= {native} to receive in a plain claude: claude update",
                details,
            )
        ]
    return [
        Check(
            "claude",
            "claude",
            "pass",
            f"Claude Code {shown} at {program}: its sessions receive through its messaging socket",
            "",
            details,
        )
    ]
