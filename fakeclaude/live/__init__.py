"""Driving the real Claude Code offline: pinned installs, a scratch home, a pty session, its logs, a fake model.

Modules (import them directly; this package imports nothing, so ``python -m fakeclaude.live.tap``
starts fast):

- ``install``: ``PINNED_VERSIONS``, ``ensure_claude(version) -> Path`` (npm install into
  ``.cache/claude-code/<version>`` when missing; ``ClaudeUnavailable`` when the registry is out of reach).
- ``home``: ``ClaudeHome.create(root, bus_home)``: temp HOME, ``~/.claude.json`` with our server
  registered by ``agentbus enable claude-mcp``, settings allowing ``mcp__agentbus__*``.
- ``driver``: ``LiveSession(claude, home, model, name, channels=True)``: the real binary in a
  pseudo-terminal (pexpect); confirm the channels warning, wait for the MCP connection, type, quit.
- ``mcplog``: Claude Code's MCP log as typed entries (connected in N ms, channel handler registered,
  tool completed in N ms, shutdown signals).
- ``model``: ``FakeModel``, a loopback Messages API with rules (ping -> send_message pong, ...).
- ``tap`` / ``taplog``: a recording relay in front of the server (``--stubborn``: ignores signals)
  and its reader.
- ``procs``: /proc lookups (the adapter under claude, VmRSS, whether a pid lives); deadline waits are
  ``fakeclaude.waiting``.
- ``record``: ``fakeclaude record-profile``: a client profile recorded from a binary.

Example (see tests/live/ for more)::

    with FakeModel() as model:
        home = ClaudeHome.create(tmp_path / "claude", bus_home)
        with LiveSession(ensure_claude("2.1.331"), home, model, "bob") as bob:
            ...                      # bob is connected; its channel handler is registered
            bob.quit()
"""
