"""Whether a peer's or a claimer's process still runs on this host, and the ids that name them (stdlib only)."""

import os
import socket

HOST = socket.gethostname()


def pid_alive(pid: int, *, thorough: bool = False) -> bool:
    """Whether ``pid`` runs here. ``thorough`` also counts a zombie (killed, not yet reaped) as dead.

    A SIGKILLed adapter whose parent died with it stays a zombie until init reaps it, which can take
    seconds (or forever under a non-reaping PID 1 in a container); kill(pid, 0) still succeeds then.
    The /proc read costs ~15 us, so only the rare decisions (taking a name, reclaiming mail) pay it.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not (thorough and _is_zombie(pid))


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rpartition(b")")[2].split()[:1]
    except OSError:  # no /proc (not Linux), or gone meanwhile
        return False
    return state in ([b"Z"], [b"X"])


def new_session_id() -> str:
    """A fresh id for one session of a peer (register, heartbeat and unregister name it)."""
    return os.urandom(8).hex()


def claimer_id(session_id: str) -> str:
    """A claim owner names its host and pid, so a claim left by a dead process is recognisable."""
    return f"{HOST}:{os.getpid()}:{session_id}"


def claimer_is_dead(claimer: str) -> bool:
    host, _, rest = claimer.partition(":")
    pid_text = rest.partition(":")[0]
    return host == HOST and pid_text.isdigit() and not pid_alive(int(pid_text), thorough=True)
