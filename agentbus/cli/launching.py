"""`agentbus launch`'s last step for any client: print the command line, or become the client, variables set."""

import os
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence

from agentbus.cli.app import CliError
from agentbus.cli.output import Output
from agentbus.manifest import Manifest


def shown_line(argv: Sequence[str], variables: Mapping[str, str | None]) -> str:
    """The line a person can paste: the variables that are set, then the command."""
    prefix = "".join(f"{key}={shlex.quote(value)} " for key, value in variables.items() if value)
    return prefix + shlex.join(argv)


def start_client(
    manifest: Manifest,
    argv: Sequence[str],
    variables: Mapping[str, str | None],
    *,
    enabled: bool,
    print_only: bool,
    install_hint: str,
    out: Output,
) -> None:
    """Print the line (``print_only``), or exec ``argv`` with ``variables`` set (refused if agentbus is
    not ``enabled`` for this client, or its program is not on PATH: one sentence each)."""
    shown = shown_line(argv, variables)
    if print_only:
        out.line(shown)
        if not enabled:
            out.note(f"note: {manifest.id} is not enabled yet; run: agentbus enable {manifest.id}")
        return
    if not enabled:
        raise CliError(
            f"{manifest.id} is not enabled, so the session would not have agentbus; run: agentbus enable {manifest.id}"
        )
    program = shutil.which(argv[0])
    if program is None:
        raise CliError(f"{argv[0]} is not on PATH; {install_hint}, then run: {shown}")
    env = dict(os.environ)
    env.update({key: value for key, value in variables.items() if value is not None})
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(program, list(argv), env)  # noqa: S606 - launch becomes the client it starts, argv as given
