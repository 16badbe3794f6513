"""SPEC section 12: security (private bus directory and file, no network sockets, provenance in the instructions)."""

import contextlib
import ipaddress
import os
import re
import socket
import stat

from sqlalchemy.engine import make_url

from conformance.busfile import BusFile
from conformance.checks import send
from conformance.harness import Harness
from conformance.marks import requires, rule
from conformance.procs import IPAddress, group_pids, inet_socket_details
from fakeclaude import FakeClaudeError
from fakeclaude.waiting import wait_until

POSTGRES_PORT = 5432


@rule("SEC-1")
@requires("sqlite_bus", why="SEC-1 file modes of AGENTBUS_HOME and bus.db")
@requires("shared_bus")
def test_home_is_0700_and_bus_file_0600(harness: Harness) -> None:
    """SEC-1: `AGENTBUS_HOME` is created 0700 and `bus.db` 0600. A home that is group- or world-writable
    or owned by another user is refused with an error that says how to fix it."""
    harness.start("alice")
    home_mode = stat.S_IMODE(harness.bus_home.stat().st_mode)
    assert isinstance(harness.db, BusFile)
    db_mode = stat.S_IMODE(harness.db.path.stat().st_mode)
    assert home_mode == 0o700, f"AGENTBUS_HOME mode {home_mode:o}"
    assert db_mode == 0o600, f"bus.db mode {db_mode:o}"


@rule("SEC-1")
@requires("sqlite_bus", why="SEC-1 a writable AGENTBUS_HOME holding bus.db")
def test_writable_home_is_refused_with_a_fix(harness: Harness) -> None:
    """SEC-1: ... A home that is group- or world-writable or owned by another user is refused with an
    error that says how to fix it."""
    harness.bus_home.mkdir(mode=0o700)
    os.chmod(harness.bus_home, 0o777)  # noqa: S103 - the unsafe home under test
    session = harness.session("bob")
    with contextlib.suppress(FakeClaudeError):
        session.start(8)
    wait_until(lambda: session.returncode is not None, 8, "the adapter to refuse the home")
    assert session.returncode != 0, "the adapter used a world-writable AGENTBUS_HOME"
    assert re.search(r"chmod|permission|mode", session.stderr, re.I), f"no fix suggested: {session.stderr[-400:]!r}"


def _database_endpoints(harness: Harness) -> set[tuple[IPAddress, int]]:
    """Addresses of the PostgreSQL server of the test's database (none for a Unix-socket URL)."""
    if harness.db_url is None:
        return set()
    url = make_url(harness.db_url)
    if not url.host or url.host.startswith("/"):
        return set()
    port = url.port or POSTGRES_PORT
    found: set[tuple[IPAddress, int]] = set()
    for info in socket.getaddrinfo(url.host, port, proto=socket.IPPROTO_TCP):
        address: IPAddress = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        found.add((address, port))
    return found


@rule("SEC-2")
@requires("linux_proc")
def test_no_network_socket(harness: Harness) -> None:
    """SEC-2: An adapter opens no network socket.

    After a round of traffic, no process of the adapter holds a socket listed in its network
    namespace's tcp/udp/raw tables (unix sockets and pipes are fine). On a PostgreSQL bus the
    connections to the database server are the bus itself: TCP connections to that server's address
    and port are allowed, nothing else (no listening socket, no other peer)."""
    alice, bob = harness.start_many(["alice", "bob"])
    send(alice, "bob", "any sockets?")
    bob.wait_for_channel(timeout=5)
    alice.call_tool("list_peers", {})
    allowed = _database_endpoints(harness)
    servers = ", ".join(sorted(f"{address}:{port}" for address, port in allowed))
    where = f" other than connections to the bus's database server ({servers})" if allowed else ""
    for session in (alice, bob):
        assert session.pid is not None
        for pid in group_pids(session.pid):
            found = [
                s.line
                for s in inet_socket_details(pid)
                if s.listening or not s.table.startswith("tcp") or s.remote not in allowed
            ]
            assert not found, f"process {pid} of the adapter holds network sockets{where}: {found}"


@rule("SEC-3")
def test_instructions_say_channel_text_is_information_from_agents(harness: Harness) -> None:
    """SEC-3: The adapter's instructions tell the model that channel content comes from other agents and
    is information, not the user's instructions."""
    alice = harness.start("alice")
    text = " ".join((alice.instructions or "").split())
    assert re.search(r"\b(agents?|peers?)\b", text, re.I), f"instructions do not say who sends: {text!r}"
    assert re.search(
        r"not\b[^.]*\b(instructions?|commands?|orders?)\b[^.]*\buser\b|\bnot\b[^.]*\buser\b", text, re.I
    ), f"instructions do not say the text is not the user's instructions: {text!r}"
