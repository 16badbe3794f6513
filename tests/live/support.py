"""Helpers of the real-client tests: the agentbus command on a test's bus, and what a clean exit means."""

import json
import subprocess
import sys
from typing import Any

from fakeclaude import Sandbox
from fakeclaude.live.driver import LiveSession
from fakeclaude.live.mcplog import ShutdownStep
from fakeclaude.live.procs import pid_alive
from fakeclaude.waiting import wait_until


def agentbus_cli(bus: Sandbox, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the ``agentbus`` command on this test's bus (as a user or a CI job would)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(bus.home), "AGENTBUS_HOME": str(bus.bus_home)}
    done = subprocess.run(
        [sys.executable, "-m", "agentbus.cli", *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"agentbus {' '.join(args)} exited {done.returncode}: {done.stdout}{done.stderr}")
    return done


def peers_on_bus(bus: Sandbox) -> list[dict[str, Any]]:
    """``agentbus peers --all --json``: every registered peer, live or stale, without reaping."""
    return json.loads(agentbus_cli(bus, "peers", "--all", "--json").stdout or "[]")


def inbox(bus: Sandbox, name: str) -> Any:
    return json.loads(agentbus_cli(bus, "inbox", name, "--json").stdout or "{}")


def assert_clean_exit(session: LiveSession, adapter_pid: int, bus: Sandbox, name: str) -> None:
    """Claude Code stopped the adapter with SIGINT alone, and the adapter unregistered on its way out.

    The MCP log shows an escalation on 2.1.331; 2.1.197 exits before its shutdown lines are written,
    so there the evidence is the bus (a SIGKILLed adapter cannot unregister) and test_shutdown.py,
    which sees the signals on the wire.
    """
    wait_until(lambda: not pid_alive(adapter_pid), 10, f"the adapter (pid {adapter_pid}) to exit")
    escalations = [entry.message for entry in session.mcp_log.escalations()]
    kills = [entry.message for entry in session.mcp_log.entries() if "SIGKILL" in entry.message]
    assert escalations == [], f"Claude Code had to escalate:\n{session.mcp_log.describe()}"
    assert kills == [], f"Claude Code had to escalate:\n{session.mcp_log.describe()}"
    assert not any(isinstance(e, ShutdownStep) and e.signal != "SIGINT" for e in session.mcp_log.entries())
    left = [peer for peer in peers_on_bus(bus) if peer.get("name") == name]
    assert left == [], f"{name} is still registered after Claude Code quit (the adapter did not unregister): {left}"
