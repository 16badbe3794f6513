"""Start the agentbus adapter from the Claude Code plugin: a private virtualenv, built on first start.

Claude Code runs ``python3 ${CLAUDE_PLUGIN_ROOT}/plugin/start.py`` (see .claude-plugin/plugin.json).
The plugin directory is this repository; the virtualenv lives outside it, in
``$CLAUDE_PLUGIN_DATA`` (Claude Code sets it to ``~/.claude/plugins/data/agentbus-agentbus``), one
per plugin version.
The first start creates it and pip-installs the plugin directory into it (PyPI must be reachable for
the dependencies); every later start only checks a marker file and execs the adapter. Standard library
only, and nothing is ever printed to stdout: it is the MCP stream. ``start.py --prepare`` builds the
virtualenv and exits (for a first start on a slow network: Claude Code waits 30 s for a server).
"""

import fcntl
import hashlib
import importlib.util
import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADAPTER = ["-m", "agentbus.adapters.claude_mcp"]


def say(text: str) -> None:
    sys.stderr.write(f"agentbus plugin: {text}\n")
    sys.stderr.flush()


def fingerprint() -> str:
    """Changes when the plugin's code does: a new plugin version gets a fresh virtualenv."""
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "agentbus/__init__.py"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()[:16]


def data_dir() -> Path:
    """Claude Code's data directory of this plugin (it sets CLAUDE_PLUGIN_DATA; --prepare by hand does not)."""
    given = os.environ.get("CLAUDE_PLUGIN_DATA")
    if given:
        return Path(given)
    config = Path(os.environ.get("CLAUDE_CONFIG_DIR") or Path.home() / ".claude")
    return config / "plugins" / "data" / "agentbus-agentbus"


def dependencies() -> list[str]:
    """The runtime dependencies of the package, as pyproject.toml lists them (its one list)."""
    return list(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])


def build(target: Path) -> None:
    say(f"first start: building a private virtualenv in {target} (this takes a while once)")
    own_pip = importlib.util.find_spec("pip") is not None
    venv.EnvBuilder(with_pip=not own_pip, clear=True).create(target)
    python = target / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python)] if own_pip else [str(python), "-m", "pip"]
    command = [*pip, "install", "--quiet", "--disable-pip-version-check", "--no-compile", *dependencies()]
    done = subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr, stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise SystemExit(
            f"agentbus plugin: pip install of agentbus's dependencies into {target} failed (exit {done.returncode})"
        )
    site = next((target / "lib").glob("python*/site-packages"))
    (site / "agentbus-plugin.pth").write_text(f"{ROOT}\n")


def main() -> None:
    base = data_dir()
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = fingerprint()
    target = base / f"venv-{key}"
    ready = target / ".agentbus-ready"
    if not ready.exists():
        with open(base / "build.lock", "w") as lock:  # two sessions starting at once build once
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not ready.exists():
                build(target)
                ready.write_text(key)
    if "--prepare" in sys.argv[1:]:
        say(f"ready: {target}")
        return
    python = target / "bin" / "python"
    os.execv(python, [str(python), *ADAPTER])  # noqa: S606 - the adapter in the plugin's own virtualenv


if __name__ == "__main__":
    main()
