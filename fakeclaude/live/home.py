"""A scratch Claude Code home: temp HOME, ``~/.claude.json`` and settings, our server registered by ``agentbus enable``.

``ClaudeHome.create(root, bus_home)`` makes ``root/home`` (HOME), ``root/project`` (the session's cwd)
and uses ``bus_home`` as AGENTBUS_HOME. The server entry is written by running our own
``agentbus enable claude-mcp`` with that HOME (the path a user takes); then the keys a scripted run
needs are merged in: onboarding done, a theme, the API key approved (its last 20 characters), the
project trusted, and the feature gates of channels and of their permission relay
(``cachedGrowthBookFeatures.tengu_harbor`` and ``tengu_harbor_permissions``).
``~/.claude/settings.json`` allows every ``mcp__agentbus__*`` tool and asks before any other. ``tap`` puts
``python -m fakeclaude.live.tap LOG [--stubborn] --`` in front of the registered command.

Nothing outside ``root`` is read or written: not the user's ``~/.claude.json``, not ``~/.agentbus``.
"""

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SERVER_NAME = "agentbus"
#: A syntactically plausible key; only the fake model ever sees it.
FAKE_API_KEY = "sk-ant-api03-" + "agentbus-live-fake-key-" * 3 + "AAAA"
#: What a session needs from the caller's environment; everything else is left out.
PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "TMPDIR", "TZ")


#: Claude Code cuts longer keys to this length and appends "-" and a hash of the path (not reproduced here).
KEY_LIMIT = 200


def project_key(path: Path) -> str:
    """Claude Code's directory name for a project: every non-alphanumeric character of the path becomes '-'."""
    return re.sub(r"[^A-Za-z0-9]", "-", str(path))


def _project_dir(parent: Path, key: str) -> Path:
    """``parent/key``; for a key over KEY_LIMIT, the one directory named ``key[:KEY_LIMIT]-<hash>``."""
    if len(key) <= KEY_LIMIT:
        return parent / key
    found = sorted(parent.glob(f"{key[:KEY_LIMIT]}-*"))
    return found[0] if found else parent / f"{key[:KEY_LIMIT]}-?"


@dataclass
class ClaudeHome:
    """The directories and config of one scratch Claude Code user."""

    root: Path
    home: Path
    project: Path
    bus_home: Path
    api_key: str = FAKE_API_KEY
    tap_log: Path | None = None
    #: The server's name in Claude Code's MCP log directory: ``agentbus``, or for the plugin's server
    #: ``plugin-agentbus-agentbus`` (plugin name, then server name).
    log_server: str = SERVER_NAME

    @classmethod
    def create(
        cls,
        root: Path,
        bus_home: Path | None = None,
        *,
        tap_log: Path | None = None,
        stubborn: bool = False,
        allow: tuple[str, ...] = (f"mcp__{SERVER_NAME}__*",),
        server_env: dict[str, str] | None = None,
        register: bool = True,
        permission_mode: str = "default",
    ) -> "ClaudeHome":
        """Make the home under ``root``, register the server with ``agentbus enable`` (unless not
        ``register``: the plugin's test installs it as a plugin instead), merge the rest in.

        ``permission_mode`` is ``permissions.defaultMode``: "default" asks before a tool that is not
        allowed (2.1.331 would otherwise start in auto mode, whose classifier approves on its own)."""
        root = Path(root).resolve()
        home = root / "home"
        project = root / "project"
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        project.mkdir(parents=True, exist_ok=True)
        made = cls(root, home, project.resolve(), Path(bus_home or root / "agentbus-home").resolve(), tap_log=tap_log)
        if register:
            made._enable()
        else:
            made.config_file.write_text("{}")
            made.config_file.chmod(0o600)
        made._configure(tap_log, stubborn, server_env or {})
        settings_dir = home / ".claude"
        settings_dir.mkdir(exist_ok=True)
        permissions = {"allow": list(allow), "defaultMode": permission_mode}
        (settings_dir / "settings.json").write_text(json.dumps({"permissions": permissions}, indent=2))
        return made

    # ------------------------------------------------------------------ paths

    @property
    def config_file(self) -> Path:
        return self.home / ".claude.json"

    @property
    def config_dir(self) -> Path:
        return self.home / ".claude"

    @property
    def project_key(self) -> str:
        return project_key(self.project)

    @property
    def mcp_log_dir(self) -> Path:
        """Where Claude Code writes this server's MCP log (one ``*.jsonl`` per session)."""
        logs = _project_dir(self.home / ".cache" / "claude-cli-nodejs", self.project_key)
        return logs / f"mcp-logs-{self.log_server}"

    def transcript_path(self, session_id: str) -> Path:
        """``~/.claude/projects/<project key>/<session id>.jsonl``."""
        return _project_dir(self.config_dir / "projects", self.project_key) / f"{session_id}.jsonl"

    def config(self) -> dict[str, Any]:
        return json.loads(self.config_file.read_text())

    def server_entry(self) -> dict[str, Any]:
        return self.config()["mcpServers"][SERVER_NAME]

    def env(self, name: str | None, base_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of a Claude Code session in this home, talking to the model at ``base_url``."""
        env = {key: os.environ[key] for key in PASSED_THROUGH if key in os.environ}
        env.setdefault("PATH", os.defpath)
        env.update(
            HOME=str(self.home),
            AGENTBUS_HOME=str(self.bus_home),
            ANTHROPIC_BASE_URL=base_url,
            ANTHROPIC_API_KEY=self.api_key,
            DISABLE_AUTOUPDATER="1",
            TERM="xterm-256color",
        )
        if name is not None:
            env["AGENTBUS_NAME"] = name
        env.update(extra or {})
        return env

    # ------------------------------------------------------------------ setup

    def _enable(self) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("AGENTBUS_", "CLAUDE_"))}
        env.update(HOME=str(self.home), AGENTBUS_HOME=str(self.bus_home))
        done = subprocess.run(
            [sys.executable, "-m", "agentbus.cli", "enable", "claude-mcp"],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.project,
            timeout=120,
            check=False,
        )
        if done.returncode != 0 or not self.config_file.exists():
            raise RuntimeError(f"agentbus enable claude-mcp exited {done.returncode}: {done.stdout}{done.stderr}")

    def _configure(self, tap_log: Path | None, stubborn: bool, server_env: dict[str, str]) -> None:
        config = self.config()
        entry = config.get("mcpServers", {}).get(SERVER_NAME, {})
        if tap_log is not None:
            tap = [sys.executable, "-m", "fakeclaude.live.tap", str(tap_log), *(["--stubborn"] if stubborn else [])]
            original = [entry["command"], *entry.get("args", [])]
            entry["command"], entry["args"] = tap[0], [*tap[1:], "--", *original]
        if server_env:
            entry["env"] = {**entry.get("env", {}), **server_env}
        approved = config.setdefault("customApiKeyResponses", {"approved": [], "rejected": []})
        approved.setdefault("approved", []).append(self.api_key[-20:])
        approved.setdefault("rejected", [])
        config.setdefault("projects", {}).setdefault(str(self.project), {})["hasTrustDialogAccepted"] = True
        # tengu_harbor gates channels; tengu_harbor_permissions the permission relay (it acts only for a
        # server that declares claude/channel/permission, so it changes nothing for the others).
        features = config.setdefault("cachedGrowthBookFeatures", {})
        features["tengu_harbor"] = True
        features["tengu_harbor_permissions"] = True
        config["hasCompletedOnboarding"] = True
        # 2.1.331 offers "Make auto mode your default permission mode?" once to a user whose settings
        # name another default mode; the dialog would swallow the keys a test types (Ctrl-C included).
        config["hasSeenAutoDefaultNudge"] = True
        config["theme"] = "dark"
        tmp = self.config_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(config, indent=2))
        os.chmod(tmp, 0o600)
        tmp.replace(self.config_file)
