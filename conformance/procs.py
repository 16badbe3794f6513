"""Adapter processes seen from outside (Linux /proc): process groups, sockets, an observation window."""

import ipaddress
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

INET_TABLES = ("tcp", "tcp6", "udp", "udp6", "raw", "raw6", "udplite", "udplite6")


def stays(predicate: Callable[[], bool], duration: float, interval: float = 0.02) -> bool:
    """True if ``predicate`` holds at every check during ``duration`` (an observation window)."""
    deadline = time.monotonic() + duration
    while True:
        if not predicate():
            return False
        if time.monotonic() >= deadline:
            return True
        time.sleep(interval)


def pgid_of(pid: int) -> int | None:
    """The process group of ``pid``, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 5 is the pgrp; the command name (field 2) may contain spaces and parentheses.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[2])


def group_pids(leader: int) -> list[int]:
    """Every live process in the process group led by ``leader`` (the adapter and its children).

    fakeclaude and the raw client start adapters in a new session, so the group is the adapter's.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and pgid_of(int(entry.name)) == leader:
            found.append(int(entry.name))
    return sorted(found)


def socket_inodes(pid: int) -> set[int]:
    """Inodes of the sockets ``pid`` holds open (``socket:[N]`` links in /proc/<pid>/fd)."""
    inodes: set[int] = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        entries = list(fd_dir.iterdir())
    except OSError:
        return inodes
    for entry in entries:
        try:
            target = os.readlink(entry)
        except OSError:
            continue
        match = re.fullmatch(r"socket:\[(\d+)\]", target)
        if match:
            inodes.add(int(match.group(1)))
    return inodes


#: ``st`` of a listening TCP socket in /proc/net/tcp{,6}.
TCP_LISTEN = "0A"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class InetSocket:
    """One network socket of a process, from its namespace's /proc/net table."""

    table: str
    state: str
    local: tuple[IPAddress, int]
    remote: tuple[IPAddress, int]
    line: str

    @property
    def listening(self) -> bool:
        """True for a TCP socket in LISTEN state."""
        return self.table.startswith("tcp") and self.state == TCP_LISTEN


def _address(field: str) -> tuple[IPAddress, int]:
    host, _, port = field.partition(":")
    raw = bytes.fromhex(host)
    # The kernel prints each 32-bit word in host (little-endian) order.
    packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address: IPAddress = ipaddress.ip_address(packed)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address, int(port, 16)


def inet_socket_details(pid: int) -> list[InetSocket]:
    """The network (IPv4/IPv6) sockets of ``pid`` with their addresses and state.

    The socket tables are read through /proc/<pid>/net, so they are those of the process's own
    network namespace; a socket inode found in none of them is a unix, netlink or other local socket.
    """
    mine = socket_inodes(pid)
    if not mine:
        return []
    found: list[InetSocket] = []
    for table in INET_TABLES:
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[9].isdigit() and int(fields[9]) in mine:
                local, remote = _address(fields[1]), _address(fields[2])
                found.append(InetSocket(table, fields[3], local, remote, f"{table}: {line.strip()}"))
    return found


def gone(pid: int) -> bool:
    """True once ``pid`` has exited and been reaped (no /proc entry: not even a zombie)."""
    return not Path(f"/proc/{pid}").exists()
