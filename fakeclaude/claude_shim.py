"""Stand-in for the Claude Code process: argv reads ``claude [flags]``, the adapter runs as its child.

Adapters may look at their parent's command line to learn whether Claude Code was started with
``--dangerously-load-development-channels`` (it never says so on the wire). fakeclaude starts this
script with ``argv[0] = "claude"`` and the flags of the simulated launch, then ``--`` and the adapter
command; the adapter inherits stdin, stdout and stderr. Standard library only (runs with ``-S``).

A Python whose ``argv[0]`` has no slash looks for that name on PATH to find its own prefix: with a
real ``claude`` on PATH next to a ``lib/pythonX.Y`` (``/usr/bin/claude`` beside Debian's
``/usr/lib/python3.11``) it would load that other Python's standard library and die. So the stand-in
runs with PYTHONHOME naming this interpreter's own prefix (``stand_in``), and takes PYTHONHOME out
again (or restores the caller's) before it starts the adapter.
"""

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence

#: Carries the caller's own PYTHONHOME (if it had one) through the stand-in to the adapter.
ORIGINAL_HOME_VARIABLE = "FAKECLAUDE_ORIGINAL_PYTHONHOME"


def stand_in(
    flags: Sequence[str], command: Sequence[str], env: Mapping[str, str], program: str = "claude"
) -> tuple[list[str], str, dict[str, str]]:
    """(argv, executable, env) for ``Popen``: ``claude FLAGS -- COMMAND`` run by this Python.

    ``program`` is the name the stand-in goes by (``argv[0]``): ``codex`` for a Codex session."""
    argv = [program, "-S", os.path.abspath(__file__), *flags, "--", *command]
    stand_in_env = {key: value for key, value in env.items() if key != ORIGINAL_HOME_VARIABLE}
    if "PYTHONHOME" in env:
        stand_in_env[ORIGINAL_HOME_VARIABLE] = env["PYTHONHOME"]
    stand_in_env["PYTHONHOME"] = os.pathsep.join((sys.base_prefix, sys.base_exec_prefix))
    return argv, sys.executable, stand_in_env


def _adapter_env() -> dict[str, str]:
    env = dict(os.environ)
    original = env.pop(ORIGINAL_HOME_VARIABLE, None)
    env.pop("PYTHONHOME", None)
    if original is not None:
        env["PYTHONHOME"] = original
    return env


def main() -> int:
    """Run the command after ``--`` and exit with its status (128 + signal number if it was killed)."""
    args = sys.argv[1:]
    command = args[args.index("--") + 1 :]
    child = subprocess.Popen(command, env=_adapter_env())

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    code = child.wait()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
