"""``agentbus doctor``: one pass/info/warn/fail line per check, each with a hint how to fix it.

Doctor never creates or modifies a bus: it reads bus.db over a read-only SQLite connection, or a
PostgreSQL bus (AGENTBUS_DB_URL) in read-only transactions, and the startup check runs the
registered command against a throwaway AGENTBUS_HOME. The bus section starts with the backend
(``bus.location``); the SQLite file gets permission and integrity checks, a PostgreSQL bus gets
server (connectivity, version) and privilege checks instead; schema, peers, mail and wake-ups are
checked on both. A database URL is only ever shown without its password.
"""

import dataclasses
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import typer

from agentbus.cli import claude_config as cc
from agentbus.cli.app import EXIT_FAILED, command
from agentbus.cli.busfiles import (
    backend_name,
    bus_exists,
    connect_readonly,
    hide_password,
    is_live,
    readonly_bus,
    readonly_engine,
    scrub,
    uses_default_file,
    why_stale,
)
from agentbus.cli.output import Output, age
from agentbus.core.bus import HOST, MailboxStats, Peer
from agentbus.core.config import Settings
from agentbus.core.schema import SCHEMA_HEAD, SCHEMA_REVISIONS
from agentbus.core.seed import inspect_seed_bus
from agentbus.manifest import Manifest, ManifestError, installed_adapters, load_manifest

Status = Literal["pass", "info", "warn", "fail"]
STATUSES: tuple[Status, ...] = ("pass", "info", "warn", "fail")
MCP_KIND = "mcp-server"
DEFAULT_MIN_CLAUDE = "2.1.80"
STUCK_AFTER_SECONDS = 60.0
#: Mail a client received (queued for the model's next turn) but the model has not seen this long.
QUEUED_TOO_LONG_SECONDS = 600.0
STARTUP_TIMEOUT = 10.0
CLOSE_TIMEOUT = 3.0
EXPECTED_TOOLS = ("send_message", "list_peers")


@dataclass
class Check:
    """One line of the report. ``id`` is stable for scripts; ``label`` is what a person reads."""

    id: str
    label: str
    status: Status
    summary: str
    hint: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Context:
    env: dict[str, str]
    cwd: Path
    spawn: bool = True
    stuck_after: float = STUCK_AFTER_SECONDS
    settings: Settings | None = None
    manifests: list[Manifest] = field(default_factory=list)
    live: list[Peer] = field(default_factory=list)
    bus_readable: bool = False
    trigger: str = ""
    #: False once the database server of AGENTBUS_DB_URL could not be reached (its checks are skipped).
    server_reachable: bool = True


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _tilde(path: Path | str, env: dict[str, str]) -> str:
    text = str(path)
    home = env.get("HOME")
    if home and (text == home or text.startswith(home.rstrip("/") + "/")):
        return "~" + text[len(home.rstrip("/")) :]
    return text


# environment ------------------------------------------------------------------------------------


def check_python(ctx: Context) -> list[Check]:
    info = sys.version_info
    summary = f"Python {info.major}.{info.minor}.{info.micro} at {sys.executable}"
    return [Check("python", "python", "pass", summary, details={"executable": sys.executable})]


def check_packages(ctx: Context) -> list[Check]:
    names = ("agentbus", "mcp", "sqlalchemy", "alembic", "watchdog", "typer")
    versions = {name: _package_version(name) for name in names}
    missing = [name for name, v in versions.items() if v == "not installed" and name != "agentbus"]
    rest = ", ".join(f"{n} {v}" for n, v in versions.items() if n != "agentbus")
    summary = f"agentbus {versions['agentbus']} ({rest})"
    if missing:
        return [
            Check(
                "packages",
                "packages",
                "fail",
                summary,
                f"reinstall agentbus: pip install -e . ({', '.join(missing)} missing)",
                versions,
            )
        ]
    return [Check("packages", "packages", "pass", summary, details=versions)]


def check_settings(ctx: Context) -> list[Check]:
    try:
        ctx.settings = Settings.from_env(ctx.env)
        from agentbus.triggers import make_trigger

        trigger = make_trigger(ctx.settings, ctx.env)
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
        return [Check("adapters", "adapters", "fail", "no adapter installed", "reinstall agentbus: pip install -e .")]
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
        (str(m.register.get("min_claude_version", DEFAULT_MIN_CLAUDE)) for m in _mcp_manifests(ctx)),
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
                f"Claude Code {shown} at {program} is too old: channels need >= {wanted_text}",
                "update it: claude update (or npm install -g @anthropic-ai/claude-code@latest)",
                details,
            )
        ]
    return [
        Check(
            "claude",
            "claude",
            "pass",
            f"Claude Code {shown} at {program} (channels need >= {wanted_text})",
            "",
            details,
        )
    ]


# registration and startup -----------------------------------------------------------------------


def _mcp_manifests(ctx: Context) -> list[Manifest]:
    return [m for m in ctx.manifests if m.register.get("kind", MCP_KIND) == MCP_KIND]


def _suffix(ctx: Context, manifest: Manifest) -> str:
    return f".{manifest.id}" if len(_mcp_manifests(ctx)) > 1 else ""


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
    sfx = _suffix(ctx, manifest)
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
        where = _tilde(reg.path, ctx.env)
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

    sfx = _suffix(ctx, manifest)
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


# the bus ----------------------------------------------------------------------------------------


def _mode_problem(path: Path, want: int) -> tuple[Status, str] | None:
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid != os.getuid():
        return "fail", f"{path} is owned by uid {info.st_uid}, not you"
    if path.is_dir() and mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "fail", f"{path} is writable by group or others (mode {mode:o}); the bus refuses to open it"
    if mode & 0o077:
        return "warn", f"{path} has mode {mode:o}, readable by other users (want {want:o})"
    return None


def _searchable(directory: Path) -> bool:
    """``directory`` is a directory this user may look into (its files can be checked)."""
    return os.path.isdir(directory) and os.access(directory, os.X_OK)


def _owner_and_mode(path: Path) -> str:
    info = path.stat()
    return f"mode {stat.S_IMODE(info.st_mode):03o}, owner uid {info.st_uid}"


def _blocked_home(home: Path, shown: str) -> tuple[str, str] | None:
    """Why a session could not create the missing bus directory ``home``: (summary, hint), or None if it can.

    Walks down from the root like ``mkdir -p`` would: a component that is a file or a dangling
    symlink, or a nearest existing directory this user cannot write into, stops every session.
    """
    elsewhere = "or set AGENTBUS_HOME to a directory of your own"
    cannot = f"cannot create the bus directory {shown}"
    path = Path(os.path.abspath(home))
    parent = Path(path.anchor)
    for part in path.relative_to(parent).parts:
        here = parent / part
        try:
            info = here.stat()
        except FileNotFoundError:
            if here.is_symlink():
                target = os.readlink(here)
                summary = f"{cannot}: {here} is a symlink to {target}, which does not exist"
                return summary, f"create {target}, {elsewhere}"
            break
        except PermissionError:
            summary = f"{cannot}: {parent} cannot be searched by you ({_owner_and_mode(parent)})"
            return summary, f"ask its owner to give you access (chmod o+x {parent}), {elsewhere}"
        except OSError as exc:  # a symlink loop, a name too long
            return f"{cannot}: {here}: {exc.strerror}", elsewhere.removeprefix("or ")
        if not stat.S_ISDIR(info.st_mode):
            kind = "a file, not a directory" if stat.S_ISREG(info.st_mode) else "not a directory"
            return f"{cannot}: {here} is {kind}", f"move {here} aside, {elsewhere}"
        parent = here
    if not os.access(parent, os.W_OK | os.X_OK):
        summary = f"{cannot}: you cannot write into {parent} ({_owner_and_mode(parent)})"
        return summary, f"have {parent}'s owner create {home} for you (mode 700, owned by you), {elsewhere}"
    return None


def _on_read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _unwritable_home(home: Path) -> tuple[str, str] | None:
    """Why this user cannot create files in the bus directory, as every session must: (summary, hint), or None."""
    if os.access(home, os.W_OK | os.X_OK):
        return None
    if os.access(home, os.X_OK):
        why = "SQLite must create bus.db-wal and bus.db-shm there, so no session can open the bus"
    else:
        why = "no session can even open bus.db in it"
    if _on_read_only_fs(home):
        return f"cannot write into {home}: it is on a read-only file system; {why}", (
            "remount it read-write, or set AGENTBUS_HOME to a directory on a writable file system"
        )
    return f"cannot write into {home} ({_owner_and_mode(home)}): {why}", f"chmod 700 {home}"


def _permission_hint(path: Path, want: int) -> str:
    if path.stat().st_uid != os.getuid():
        return f"it must be yours: sudo chown {os.getuid()} {path}, or set AGENTBUS_HOME to a directory of your own"
    return f"chmod {want:o} {path}"


def check_location(ctx: Context) -> list[Check]:
    settings = ctx.settings
    assert settings is not None
    if not uses_default_file(settings):
        shown_url = hide_password(settings.db_url or "")
        kind = backend_name(settings)
        details = {"backend": kind, "url": shown_url}
        if kind == "postgresql":
            summary = f"PostgreSQL bus at {shown_url} (AGENTBUS_DB_URL)"
            return [Check("bus.location", "bus", "info", summary, "", details)]
        if kind == "sqlite":
            summary = f"SQLite bus at {shown_url} (AGENTBUS_DB_URL); file checks skipped"
            return [Check("bus.location", "bus", "info", summary, "", details)]
        return [
            Check(
                "bus.location",
                "bus",
                "fail",
                f"AGENTBUS_DB_URL {shown_url} names a {kind} database; agentbus keeps its bus in SQLite or PostgreSQL",
                "set AGENTBUS_DB_URL=postgresql+psycopg://user@host:port/dbname, or unset it to use the SQLite file",
                details,
            )
        ]
    home = settings.home
    shown = _tilde(home, ctx.env)
    details = {"backend": "sqlite", "path": str(settings.db_path)}
    if not os.path.exists(home):
        blocked = _blocked_home(home, shown)
        if blocked:
            return [Check("bus.location", "bus", "fail", *blocked, details)]
        return [
            Check(
                "bus.location",
                "bus",
                "info",
                f"no bus yet at {shown}: the SQLite file bus.db is created when the first session starts",
                "",
                details,
            )
        ]
    if not home.is_dir():
        return [
            Check("bus.location", "bus", "fail", f"{shown} is not a directory", f"move it aside: mv {home} {home}.old")
        ]
    checks = [Check("bus.location", "bus", "pass", f"SQLite bus file in {shown} (bus.db)", "", details)]
    problems: list[tuple[Status, str, str]] = []
    problem = _mode_problem(home, 0o700)
    unwritable = None if problem and problem[0] == "fail" else _unwritable_home(home)
    if unwritable:
        problems.append(("fail", *unwritable))
    elif problem:
        problems.append((*problem, _permission_hint(home, 0o700)))
    if _searchable(home):  # else its files cannot even be looked at (the line above says why)
        # A session makes bus.db and its -wal/-shm files 0600 itself: one it cannot write is fatal only
        # when it cannot chmod it either, i.e. when another user owns it (which _mode_problem reports).
        for path in (settings.db_path, *(Path(f"{settings.db_path}{suffix}") for suffix in ("-wal", "-shm"))):
            if path.exists() and (problem := _mode_problem(path, 0o600)):
                problems.append((*problem, _permission_hint(path, 0o600)))
    if not problems:
        mode = stat.S_IMODE(home.stat().st_mode)
        db_mode = f", db {stat.S_IMODE(settings.db_path.stat().st_mode):o}" if settings.db_path.exists() else ""
        checks.append(Check("bus.permissions", "permissions", "pass", f"private: dir {mode:o}{db_mode}"))
    for status, text, hint in problems:
        checks.append(Check("bus.permissions", "permissions", status, text, hint))
    return checks


def check_integrity(ctx: Context) -> list[Check]:
    settings = ctx.settings
    assert settings is not None
    if not uses_default_file(settings):
        if backend_name(settings) == "postgresql":
            return check_database(ctx)
        ctx.bus_readable = backend_name(settings) == "sqlite"
        return []
    db = settings.db_path
    if not _searchable(settings.home):  # missing, or not a directory you can look into: see bus.location
        return []
    if not db.exists():
        if settings.home.exists():
            return [
                Check("bus.integrity", "integrity", "info", "no bus.db yet (created when the first session starts)")
            ]
        return []
    corrupt_hint = f"move it aside (its mail is lost): mv {db} {db}.corrupt; a fresh bus is created on next start"
    try:
        conn = connect_readonly(db, timeout=settings.busy_timeout_seconds)
        try:
            rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check").fetchall()]
            tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            revision = None
            if "alembic_version" in tables:
                found = conn.execute("SELECT version_num FROM alembic_version").fetchone()
                revision = str(found[0]) if found else None
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        message = str(exc)
        if "locked" in message or "busy" in message:
            return [Check("bus.integrity", "integrity", "warn", f"bus.db is locked: {message}", "run doctor again")]
        return [Check("bus.integrity", "integrity", "fail", f"bus.db is unreadable: {message}", corrupt_hint)]
    if rows != ["ok"]:
        return [
            Check(
                "bus.integrity",
                "integrity",
                "fail",
                f"bus.db is damaged: {rows[0]}",
                corrupt_hint,
                {"quick_check": rows[:20]},
            )
        ]
    checks = [Check("bus.integrity", "integrity", "pass", f"quick_check ok ({db.stat().st_size} bytes)")]
    seed = inspect_seed_bus(db) if revision is None and tables else None
    if seed is not None:
        checks.append(Check("bus.schema", "schema", "fail", seed.sentence().split("; ")[0], "run: agentbus migrate"))
        return checks
    checks.append(_schema_check(revision, tables, "bus.db", f"move it aside: mv {db} {db}.unknown"))
    # An older schema (a bus the next session migrates) lacks columns the peer and mail checks read.
    ctx.bus_readable = revision == SCHEMA_HEAD
    return checks


def _schema_check(
    revision: str | None, tables: set[str], what: str, foreign_hint: str, empty: Status = "warn"
) -> Check:
    if revision is None:
        if not tables:
            return Check(
                "bus.schema",
                "schema",
                empty,
                f"{what} is empty (never set up)",
                "it is set up when the next session starts",
            )
        return Check(
            "bus.schema",
            "schema",
            "fail",
            f"{what} has tables but no alembic_version: not an agentbus bus",
            foreign_hint,
        )
    if revision == SCHEMA_HEAD:
        return Check("bus.schema", "schema", "pass", f"schema {revision} (current)")
    if revision in SCHEMA_REVISIONS:
        return Check(
            "bus.schema",
            "schema",
            "warn",
            f"schema {revision}, older than {SCHEMA_HEAD}",
            "it is migrated when the next session starts",
        )
    return Check(
        "bus.schema",
        "schema",
        "fail",
        f"schema {revision!r} is unknown to this agentbus (it knows {', '.join(SCHEMA_REVISIONS)})",
        "a newer agentbus wrote this bus: upgrade agentbus",
    )


TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
BUS_TABLES = ("peers", "messages")


def _db_error(exc: BaseException, settings: Settings) -> str:
    orig = getattr(exc, "orig", None)
    text_ = str(orig if orig is not None else exc) or type(exc).__name__
    return scrub(" ".join(text_.split()), settings)


def _server_hint(message: str, settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(settings.url)
    psql = url._replace(drivername="postgresql", password=None).render_as_string(hide_password=True)
    lowered = message.lower()
    if "does not exist" in lowered and "database" in lowered:
        return (
            f"create it: createdb -h {url.host or 'localhost'} -p {url.port or 5432} -U {url.username or '$USER'} "
            f"{url.database}; agentbus sets up its tables when the first session starts"
        )
    if "password" in lowered or "authentication" in lowered or ("role" in lowered and "does not exist" in lowered):
        return f"check the user and password in AGENTBUS_DB_URL (or ~/.pgpass); try: psql '{psql}'"
    return f"check that the server runs and accepts connections, and AGENTBUS_DB_URL; try: psql '{psql}'"


def _privilege_list(missing: list[str]) -> str:
    """``["SELECT on peers", "INSERT on peers", ...]`` as ``SELECT, INSERT on peers; ...`` (first-seen order)."""
    grouped: dict[str, list[str]] = {}
    for item in missing:
        privilege, _, target = item.partition(" on ")
        grouped.setdefault(target, []).append(privilege)
    return "; ".join(f"{', '.join(privileges)} on {target}" for target, privileges in grouped.items())


def check_database(ctx: Context) -> list[Check]:
    """A PostgreSQL bus: the server (connectivity, version), the schema revision and the role's privileges."""
    settings = ctx.settings
    assert settings is not None
    ctx.bus_readable = False
    from sqlalchemy import text

    started = time.monotonic()
    try:
        engine = readonly_engine(settings)
    except Exception as exc:  # a bad URL, or the driver is not installed
        ctx.server_reachable = False
        message = _db_error(exc, settings)
        missing_driver = isinstance(exc, ImportError) or "psycopg" in message
        hint = "install the driver: pip install 'agentbus[postgres]'" if missing_driver else "fix AGENTBUS_DB_URL"
        return [Check("bus.server", "server", "fail", f"cannot use AGENTBUS_DB_URL: {message}", hint)]
    try:
        with engine.connect() as conn:
            version, database, user, schema, can_create = conn.execute(
                text(
                    "SELECT current_setting('server_version'), current_database(), current_user, current_schema(), "
                    "has_schema_privilege(current_schema(), 'CREATE')"
                )
            ).one()
            elapsed = time.monotonic() - started
            # pg_class, not information_schema: the latter hides tables the role has no privilege on.
            tables = {
                str(r[0])
                for r in conn.execute(
                    text(
                        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
                    )
                )
            }
            revision = None
            missing: list[str] = []
            if "alembic_version" in tables:
                if conn.execute(text("SELECT has_table_privilege('alembic_version', 'SELECT')")).scalar():
                    found = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                    revision = str(found) if found is not None else None
                else:
                    missing.append("SELECT on alembic_version")
            for table in (t for t in BUS_TABLES if t in tables):
                for privilege in TABLE_PRIVILEGES:
                    held = conn.execute(text("SELECT has_table_privilege(:t, :p)"), {"t": table, "p": privilege})
                    if not held.scalar():
                        missing.append(f"{privilege} on {table}")
            sequence = None
            if "messages" in tables:
                sequence = conn.execute(text("SELECT pg_get_serial_sequence('messages', 'id')")).scalar()
                if (
                    sequence
                    and not conn.execute(text("SELECT has_sequence_privilege(:s, 'USAGE')"), {"s": sequence}).scalar()
                ):
                    missing.append(f"USAGE on sequence {sequence}")
    except Exception as exc:  # doctor reports every way the server cannot be reached, never crashes on it
        ctx.server_reachable = False
        message = _db_error(exc, settings)
        summary = f"cannot connect to the PostgreSQL bus at {hide_password(settings.url)}: {message}"
        return [Check("bus.server", "server", "fail", summary, _server_hint(message, settings))]
    finally:
        engine.dispose()
    short_version = str(version).split()[0]
    details = {"version": str(version), "database": database, "user": user, "schema": schema}
    checks = [
        Check(
            "bus.server",
            "server",
            "pass",
            f"PostgreSQL {short_version}: connected to database {database} as {user} in {elapsed * 1000:.0f} ms",
            "",
            details,
        )
    ]
    foreign = (
        f"database {database} holds other tables: give agentbus a database of its own "
        f"(createdb agentbus) and point AGENTBUS_DB_URL at it"
    )
    if "alembic_version" in tables and revision is None and missing:
        checks.append(Check("bus.schema", "schema", "info", "cannot read alembic_version (see privileges)"))
    else:
        checks.append(_schema_check(revision, tables, f"database {database}", foreign, empty="info"))
    schema_ok = checks[-1].status != "fail"
    if revision is None and not tables:
        if can_create:
            checks.append(
                Check("bus.privileges", "privileges", "pass", f"{user} may create the bus tables in schema {schema}")
            )
        else:
            where = f"schema {schema}" if schema else "any schema on its search_path"
            checks.append(
                Check(
                    "bus.privileges",
                    "privileges",
                    "fail",
                    f"{user} may not create tables in {where} of {database}: the first session cannot set up the bus",
                    f"GRANT CREATE ON SCHEMA {schema or 'public'} TO {user} (PostgreSQL 15 and later no longer "
                    f"grant it to every role), or use a database {user} owns",
                )
            )
        return checks
    if missing:
        grant = f"GRANT SELECT, INSERT, UPDATE, DELETE ON peers, messages TO {user}; GRANT SELECT ON alembic_version"
        grant += f" TO {user}"
        if sequence:
            grant += f"; GRANT USAGE ON SEQUENCE {sequence} TO {user}"
        checks.append(
            Check(
                "bus.privileges",
                "privileges",
                "fail",
                f"{user} lacks {_privilege_list(missing)}: sessions cannot use the bus",
                grant,
                {"missing": missing},
            )
        )
    elif revision is not None:
        checks.append(Check("bus.privileges", "privileges", "pass", f"{user} may read and write peers and messages"))
    ctx.bus_readable = schema_ok and revision == SCHEMA_HEAD and not any(m.startswith("SELECT") for m in missing)
    return checks


def _elsewhere(peer: Peer) -> str:
    return "" if peer.host == HOST else f" on {peer.host}"


def check_peers(ctx: Context) -> list[Check]:
    settings = ctx.settings
    assert settings is not None
    if not ctx.bus_readable or not bus_exists(settings):
        return []
    try:
        with readonly_bus(settings) as bus:
            everyone = bus.peers(include_stale=True)
            stats = bus.mailbox_stats()
    except Exception as exc:  # doctor reports every way the bus cannot be read, never crashes on it
        hint = "see the integrity line above" if uses_default_file(settings) else "check AGENTBUS_DB_URL and the server"
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        message = scrub(message, settings)
        return [Check("bus.peers", "peers", "fail", f"cannot read the bus: {message}", hint)]
    now = time.time()
    ctx.live = [p for p in everyone if is_live(p, settings, now)]
    stale = [p for p in everyone if not is_live(p, settings, now)]
    checks: list[Check] = []
    if ctx.live:
        shown = ", ".join(
            f"{p.name} ({'push' if p.can_push else 'pull only'}, pid {p.pid}{_elsewhere(p)})" for p in ctx.live
        )
        checks.append(Check("bus.peers", "peers", "pass", f"{len(ctx.live)} live: {shown}"))
    else:
        checks.append(Check("bus.peers", "peers", "info", "no session is running"))
    if stale:
        shown = ", ".join(f"{p.name} ({why_stale(p, settings, now)})" for p in stale)
        checks.append(
            Check(
                "bus.stale_peers",
                "stale peers",
                "fail",
                f"{len(stale)} stale: {shown}",
                "sessions that ended without unregistering (crash, kill -9, reboot); "
                "clear them with `agentbus peers` (their mail stays queued)",
                {"stale": [p.name for p in stale]},
            )
        )
    checks.extend(_mail_checks(ctx, stats, now))
    return checks


def _mail_checks(ctx: Context, stats: list[MailboxStats], now: float) -> list[Check]:
    live = {p.name: p for p in ctx.live}
    pending = sum(s.pending for s in stats)
    delivered = sum(s.delivered for s in stats)
    details = {
        s.recipient: {"pending": s.pending, "delivered": s.delivered, "oldest_pending_at": s.oldest_pending_at}
        for s in stats
    }
    checks = [
        Check(
            "bus.mail",
            "mail",
            "pass",
            f"{len(stats)} mailbox(es): {pending} pending, {delivered} delivered",
            "",
            details,
        )
    ]
    for box in stats:
        if not box.pending:
            continue
        waited = now - (box.oldest_pending_at or now)
        peer = live.get(box.recipient)
        what = f"{box.pending} pending for {box.recipient}, oldest {age(waited)}"
        checks.extend(_receipt_checks(ctx, box, now))
        if box.unreceived + box.queued_in_client == box.pending:
            continue  # all of it is pushed and awaits its receipt: said above
        if peer is None:
            checks.append(Check(f"mail.{box.recipient}", "mail", "info", f"{what} (offline: delivered when it starts)"))
        elif peer.can_push and waited > ctx.stuck_after:
            checks.append(
                Check(
                    f"mail.{box.recipient}",
                    "stuck mail",
                    "fail",
                    f"{what}: {box.recipient} is live with push but is not draining its mailbox",
                    f"restart that session (pid {peer.pid}); if it recurs try AGENTBUS_TRIGGER=poll; "
                    f"see `agentbus inbox {box.recipient}`",
                )
            )
        elif not peer.can_push and waited > ctx.stuck_after:
            checks.append(
                Check(
                    f"mail.{box.recipient}",
                    "mail",
                    "warn",
                    f"{what}: {box.recipient} receives by pull only and has not read it",
                    "that session must call read_messages, or be started with `agentbus launch` to get pushes",
                )
            )
        else:
            checks.append(Check(f"mail.{box.recipient}", "mail", "info", f"{what} (live: being delivered)"))
    return checks


def _receipt_checks(ctx: Context, box: MailboxStats, now: float) -> list[Check]:
    """Mail pushed to a peer with receipts that its model has not seen: the real "stuck" signal."""
    checks = []
    if box.unreceived and box.oldest_unreceived_push is not None:
        waited = now - box.oldest_unreceived_push
        what = f"{box.unreceived} pushed to {box.recipient} but never received by its Claude Code, oldest {age(waited)}"
        if waited > ctx.stuck_after:
            checks.append(
                Check(
                    f"receipts.{box.recipient}",
                    "pushed, not seen",
                    "fail",
                    what + ": the session drops its channel events (each is pushed again every few seconds)",
                    f"restart it with `agentbus launch claude-mcp {box.recipient}` (the channels flag must name "
                    f"server:agentbus); `agentbus status ID` shows one message's ladder",
                )
            )
        else:
            checks.append(Check(f"receipts.{box.recipient}", "receipts", "info", what + " (awaiting its receipt)"))
    if box.queued_in_client and box.oldest_queued_in_client is not None:
        waited = now - box.oldest_queued_in_client
        what = f"{box.queued_in_client} queued in {box.recipient}'s Claude Code, not seen yet, oldest {age(waited)}"
        status: Status = "warn" if waited > QUEUED_TOO_LONG_SECONDS else "info"
        hint = "the model is in a long turn; it sees them when the turn ends" if status == "warn" else ""
        checks.append(Check(f"receipts.{box.recipient}.queued", "receipts", status, what, hint))
    return checks


def check_wake(ctx: Context) -> list[Check]:
    settings = ctx.settings
    assert settings is not None
    trigger = ctx.trigger or (ctx.env.get("AGENTBUS_TRIGGER") or "file-watch").strip().lower()
    if trigger == "poll":
        return [Check("wake", "wake", "info", "AGENTBUS_TRIGGER=poll: wake files are not used")]
    if trigger == "pg-notify":
        return check_listeners(ctx)
    if not _searchable(settings.home):
        return []
    wake = settings.wake_dir
    shown = _tilde(wake, ctx.env)
    if not wake.is_dir():
        status: Status = "warn" if ctx.live else "info"
        return [Check("wake", "wake", status, f"{shown} does not exist", "it is created when the next session starts")]
    if not os.access(wake, os.W_OK | os.X_OK):
        return [
            Check("wake", "wake", "fail", f"{shown} is not writable: senders cannot wake anyone", f"chmod 700 {wake}")
        ]
    problem = _mode_problem(wake, 0o700)
    if problem:
        return [Check("wake", "wake", problem[0], problem[1], f"chmod 700 {wake}")]
    local = [p for p in ctx.live if p.host == HOST]
    missing = [p.name for p in local if not (wake / p.name).exists()]
    if missing:
        return [
            Check(
                "wake",
                "wake",
                "warn",
                f"no wake file for live peer(s) {', '.join(missing)}: their trigger is not armed",
                "their mail still arrives through the safety poll (every few seconds); restart those sessions",
            )
        ]
    files = f", a wake file for each of {len(local)} live peer(s)" if local else ""
    return [Check("wake", "wake", "pass", f"{shown} writable{files}")]


def check_listeners(ctx: Context) -> list[Check]:
    """pg-notify: each live peer's session LISTENs on its channel (seen in pg_stat_activity)."""
    settings = ctx.settings
    assert settings is not None
    if not ctx.server_reachable or not ctx.bus_readable:
        return []
    from sqlalchemy import text

    from agentbus.triggers.pg_notify import channel_for

    engine = readonly_engine(settings)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                )
            ).all()
    except Exception as exc:  # the wake-up check is advisory; the lines above cover connectivity
        return [Check("wake", "wake", "info", f"pg-notify: cannot list sessions: {_db_error(exc, settings)}")]
    finally:
        engine.dispose()
    listening: set[str] = set()
    hidden = 0
    for (query,) in rows:
        match = re.match(r'\s*LISTEN\s+"?([^";]+)"?', str(query or ""), re.I)
        if match:
            listening.add(match.group(1))
        elif str(query or "").startswith("<insufficient privilege>"):
            hidden += 1
    missing = [p.name for p in ctx.live if channel_for(p.name) not in listening]
    if missing and hidden:
        return [
            Check(
                "wake",
                "wake",
                "info",
                f"pg-notify: cannot see what {hidden} session(s) of other roles listen on",
                "grant pg_read_all_stats to check that every live peer's trigger is armed",
            )
        ]
    if missing:
        return [
            Check(
                "wake",
                "wake",
                "warn",
                f"no LISTEN on {channel_for('<name>')} for live peer(s) {', '.join(missing)}: "
                "their trigger is not armed",
                "their mail still arrives through the safety poll (every few seconds); restart those sessions",
            )
        ]
    each = f"; each of {len(ctx.live)} live peer(s) listens on its channel" if ctx.live else ""
    return [Check("wake", "wake", "pass", f"pg-notify: wake-ups by NOTIFY {channel_for('<name>')}{each}")]


def check_registered_bus(ctx: Context, entry_env: dict[str, str]) -> list[Check]:
    """Warn when the registered command points its sessions at another bus than this shell's."""
    registered = entry_env.get("AGENTBUS_DB_URL")
    if registered is None or registered == (ctx.env.get("AGENTBUS_DB_URL") or ""):
        return []
    mine = ctx.env.get("AGENTBUS_DB_URL")
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


# the whole report -------------------------------------------------------------------------------


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
    for manifest in _mcp_manifests(ctx):
        lines, command, entry_env = check_registration(ctx, manifest)
        checks += lines
        registered = any(c.id.startswith("registration.") for c in lines)
        checks.append(check_startup(ctx, manifest, command or [], entry_env, registered))
        registered_envs.append(entry_env)
    if ctx.settings is not None:
        checks += check_location(ctx)
        checks += check_registered_bus(ctx, registered_envs[0]) if registered_envs else []
        checks += check_integrity(ctx) + check_peers(ctx) + check_wake(ctx)
    return checks


def overall(checks: list[Check]) -> Status:
    """The worst status in the report."""
    return max((c.status for c in checks), key=STATUSES.index, default="pass")


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
