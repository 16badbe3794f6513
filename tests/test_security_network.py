"""SEC-2: the adapter opens no network socket (Linux /proc: its socket inodes against its namespace's tables)."""

import os
import re
import sys
from pathlib import Path

import pytest

from agentbus.core import Bus, Settings
from fakeclaude import Sandbox, Session

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

INET_TABLES = ("tcp", "tcp6", "udp", "udp6", "udplite", "udplite6", "raw", "raw6")
SOCKET = re.compile(r"socket:\[(\d+)\]")


def socket_inodes(pid: int) -> set[int]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            match = SOCKET.fullmatch(os.readlink(fd))
        except OSError:  # closed meanwhile
            continue
        if match:
            found.add(int(match.group(1)))
    return found


def table_inodes(pid: int, table: str, column: int) -> set[int]:
    path = Path(f"/proc/{pid}/net/{table}")
    if not path.exists():
        return set()
    rows = [line.split() for line in path.read_text().splitlines()[1:]]
    return {int(row[column]) for row in rows if len(row) > column and row[column].isdigit()}


def sockets_by_kind(pid: int) -> dict[str, set[int]]:
    """This process's sockets: network ones (inet tables), unix, netlink, and any other kind."""
    mine = socket_inodes(pid)
    inet = set().union(*(table_inodes(pid, table, 9) for table in INET_TABLES)) & mine
    unix = table_inodes(pid, "unix", 6) & mine
    netlink = table_inodes(pid, "netlink", 9) & mine
    return {"inet": inet, "unix": unix, "netlink": netlink, "other": mine - inet - unix - netlink}


def children(pid: int) -> list[int]:
    pids: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        pids += [int(p) for p in (task / "children").read_text().split()]
    return pids


def assert_no_network(session: Session, when: str) -> None:
    pid = session.adapter_pid
    assert pid is not None, session.report()
    assert session.alive, session.report()
    kinds = sockets_by_kind(pid)
    assert kinds["inet"] == set(), f"{when}: {session.name}'s adapter has network sockets {kinds}"
    assert kinds["other"] == set(), f"{when}: sockets of unknown kind {kinds}"
    assert children(pid) == [], f"{when}: the adapter started processes {children(pid)}"


def test_the_adapter_opens_no_network_socket(fakeclaude_bus: Sandbox) -> None:
    Bus.open(Settings(home=fakeclaude_bus.bus_home)).close()
    alice = fakeclaude_bus.session("alice", env={"AGENTBUS_TRIGGER": "file-watch"}).launch()
    bob = fakeclaude_bus.session("bob", env={"AGENTBUS_TRIGGER": "poll", "AGENTBUS_POLL_SECONDS": "0.05"}).launch()
    for session in (alice, bob):
        session.open(timeout=15)
        assert_no_network(session, "after start")
    for i in range(5):
        assert not alice.call_tool("send_message", {"to": "bob", "text": f"m{i}"}).is_error
        assert bob.wait_for_channel(timeout=5).content == f"m{i}"
    assert not bob.call_tool("broadcast", {"text": "all"}).is_error
    alice.wait_for_channel(timeout=5)
    for tool in ("list_peers", "whoami", "read_messages"):
        alice.call_tool(tool)
    for session in (alice, bob):
        assert_no_network(session, "after messaging")


def test_the_check_sees_a_network_socket() -> None:
    """The probe itself: a process with a listening TCP socket is caught."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert sockets_by_kind(os.getpid())["inet"]
