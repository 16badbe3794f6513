"""Pinned Claude Code (and Codex) versions: find an installed binary, or install it with npm into a cache directory.

``ensure_claude("2.1.331")`` returns ``<root>/2.1.331/node_modules/.bin/claude``, where ``<root>`` is
``$AGENTBUS_LIVE_CLAUDE_DIR`` or ``<repo>/.cache/claude-code`` (gitignored). A missing version is
installed with ``npm install --prefix <root>/<version> @anthropic-ai/claude-code@<version>`` (with
``DISABLE_AUTOUPDATER=1`` and a timeout) into a temporary directory that is renamed into place once
the binary answers ``--version``, under a file lock, so parallel test workers install it once.

When npm cannot reach its registry, ``ClaudeUnavailable`` says so: the real-client tests skip with
that message and for no other reason. Every other failure raises ``ClaudeInstallError``.
``ensure_claude(version, tool=CODEX)`` does the same for ``@openai/codex`` under ``.cache/codex``
(``$AGENTBUS_LIVE_CODEX_DIR``), and for ``@google/gemini-cli`` under ``.cache/gemini-cli``.
"""

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: The Claude Code releases the real-client tests run against, oldest first, newest last.
PINNED_VERSIONS: tuple[str, ...] = ("2.1.197", "2.1.331", "2.1.337")
#: The Codex release the codex adapter's real-client tests run against (docs/codex.md says what 0.169.0 did too).
CODEX_VERSIONS: tuple[str, ...] = ("0.171.0",)
#: The Gemini CLI release the gemini adapter's real-client tests run against.
GEMINI_VERSIONS: tuple[str, ...] = ("0.61.0",)
PACKAGE = "@anthropic-ai/claude-code"
ROOT_VARIABLE = "AGENTBUS_LIVE_CLAUDE_DIR"
REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT = 900.0


@dataclass(frozen=True)
class NpmTool:
    """A client binary installed from npm: its name in messages, package, binary and cache directory."""

    label: str
    package: str
    binary: str
    root_variable: str
    cache_dir: str


CLAUDE = NpmTool("Claude Code", PACKAGE, "claude", ROOT_VARIABLE, "claude-code")
CODEX = NpmTool("Codex", "@openai/codex", "codex", "AGENTBUS_LIVE_CODEX_DIR", "codex")
GEMINI = NpmTool("Gemini CLI", "@google/gemini-cli", "gemini", "AGENTBUS_LIVE_GEMINI_DIR", "gemini-cli")

#: npm's words for "the registry could not be reached" (DNS, refused, reset, timed out, offline).
UNREACHABLE = re.compile(
    r"ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ESOCKETTIMEDOUT|ENETUNREACH|EHOSTUNREACH|"
    r"ENOTCACHED|network request to .* failed|request to .* failed, reason|socket hang up",
    re.IGNORECASE,
)


class ClaudeInstallError(RuntimeError):
    """Claude Code could not be installed or does not run (a real failure)."""


class ClaudeUnavailable(ClaudeInstallError):
    """The npm registry cannot be reached, so a missing Claude Code version cannot be installed."""


def install_root(tool: NpmTool = CLAUDE) -> Path:
    """Where pinned versions live: ``$AGENTBUS_LIVE_CLAUDE_DIR`` or ``<repo>/.cache/claude-code``."""
    configured = os.environ.get(tool.root_variable)
    return Path(configured).expanduser() if configured else REPO_ROOT / ".cache" / tool.cache_dir


def claude_path(version: str, root: Path | None = None, tool: NpmTool = CLAUDE) -> Path:
    """The binary of ``version`` under ``root`` (installed or not)."""
    return (root or install_root(tool)) / version / "node_modules" / ".bin" / tool.binary


def npm_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for npm and for ``claude --version``: never let Claude Code update itself."""
    env = dict(os.environ if base is None else base)
    env["DISABLE_AUTOUPDATER"] = "1"
    env.setdefault("npm_config_update_notifier", "false")
    env.setdefault("npm_config_fund", "false")
    env.setdefault("npm_config_audit", "false")
    # A registry that drops packets must not hold an install for npm's default 5 minutes per try.
    env.setdefault("npm_config_fetch_timeout", "60000")
    env.setdefault("npm_config_fetch_retries", "2")
    return env


def installed_version(binary: Path, timeout: float = 60.0) -> str:
    """What ``claude --version`` says (``2.1.331``), run with a throwaway HOME."""
    with tempfile.TemporaryDirectory(prefix="claude-version-") as home:
        env = npm_env({"PATH": os.environ.get("PATH", os.defpath), "HOME": home})
        try:
            done = subprocess.run(
                [str(binary), "--version"], capture_output=True, text=True, timeout=timeout, env=env, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ClaudeInstallError(f"{binary} --version failed: {exc}") from exc
    match = re.search(r"\d+\.\d+\.\d+", done.stdout)
    if done.returncode != 0 or match is None:
        raise ClaudeInstallError(f"{binary} --version exited {done.returncode}: {(done.stdout + done.stderr)[-500:]}")
    return match.group(0)


def ensure_claude(
    version: str, root: Path | None = None, timeout: float = INSTALL_TIMEOUT, tool: NpmTool = CLAUDE
) -> Path:
    """The path of Claude Code ``version`` (or of ``tool``'s), installed with npm first if it is missing."""
    root = root or install_root(tool)
    binary = claude_path(version, root, tool)
    if binary.exists():
        _check_version(binary, version, tool)
        return binary
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f".{version}.lock"):
        if binary.exists():  # another worker installed it while we waited
            _check_version(binary, version, tool)
            return binary
        _install(version, root, timeout, tool)
    _check_version(binary, version, tool)
    return binary


def _check_version(binary: Path, version: str, tool: NpmTool = CLAUDE) -> None:
    found = installed_version(binary)
    if found != version:
        raise ClaudeInstallError(f"{binary} is {tool.label} {found}, not {version}; remove {binary.parents[2]}")


def _install(version: str, root: Path, timeout: float, tool: NpmTool = CLAUDE) -> None:
    npm = shutil.which("npm")
    label, package = tool.label, tool.package
    if npm is None:
        raise ClaudeInstallError(f"{label} {version} is not installed in {root} and npm is not on PATH")
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=root))
    command = [npm, "install", "--prefix", str(staging), "--save-exact", "--loglevel=error", f"{package}@{version}"]
    try:
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, env=npm_env(), check=False, cwd=staging
            )
        except subprocess.TimeoutExpired as exc:
            raise ClaudeUnavailable(
                f"{label} {version} unavailable: npm install did not finish within {timeout:g}s "
                f"(is the npm registry reachable?)"
            ) from exc
        output = (done.stdout or "") + (done.stderr or "")
        if done.returncode != 0:
            if UNREACHABLE.search(output):
                raise ClaudeUnavailable(
                    f"{label} {version} unavailable: the npm registry cannot be reached ({_last_error_line(output)})"
                )
            raise ClaudeInstallError(f"npm install {package}@{version} exited {done.returncode}:\n{output[-2000:]}")
        if not (staging / "node_modules" / ".bin" / tool.binary).exists():
            missing = f"node_modules/.bin/{tool.binary}"
            raise ClaudeInstallError(f"npm installed {package}@{version} but there is no {missing}")
        _check_version(staging / "node_modules" / ".bin" / tool.binary, version, tool)
        staging.rename(root / version)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _last_error_line(output: str) -> str:
    """npm's most telling line: "request to URL failed, reason: ...", else the last one naming the error."""
    lines = [line.removeprefix("npm error").strip() for line in output.splitlines() if UNREACHABLE.search(line)]
    telling = [line for line in lines if "reason:" in line]
    return (telling or lines or output.strip().splitlines() or ["no output"])[-1]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def main(argv: list[str]) -> int:
    """``python -m fakeclaude.live.install [VERSION...]`` (default: every pinned Claude Code and Codex version).

    Exit 0 when all are installed, 3 when the npm registry cannot be reached (the reason is printed),
    1 on any other failure.
    """
    unavailable = failed = False
    wanted = [(CLAUDE, version) for version in argv] or [
        *((CLAUDE, version) for version in PINNED_VERSIONS),
        *((CODEX, version) for version in CODEX_VERSIONS),
        *((GEMINI, version) for version in GEMINI_VERSIONS),
    ]
    for tool, version in wanted:
        try:
            print(f"{tool.label} {version}: {ensure_claude(version, tool=tool)}")
        except ClaudeUnavailable as exc:
            print(exc, file=sys.stderr)
            unavailable = True
        except ClaudeInstallError as exc:
            print(f"{tool.label} {version}: {exc}", file=sys.stderr)
            failed = True
    return 1 if failed else 3 if unavailable else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
