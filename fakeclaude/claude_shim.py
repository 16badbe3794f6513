"""Stand-in for the Claude Code process: argv reads ``claude [flags]``, the adapter runs as its child.

Adapters may look at their parent's command line to learn whether Claude Code was started with
``--dangerously-load-development-channels`` (it never says so on the wire). fakeclaude starts this
script with ``argv[0] = "claude"`` and the flags of the simulated launch, then ``--`` and the adapter
command; the adapter inherits stdin, stdout and stderr. Standard library only (runs with ``-S -E``).
"""

import contextlib
import signal
import subprocess
import sys


def main() -> int:
    """Run the command after ``--`` and exit with its status (128 + signal number if it was killed)."""
    args = sys.argv[1:]
    command = args[args.index("--") + 1 :]
    child = subprocess.Popen(command)

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    code = child.wait()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
