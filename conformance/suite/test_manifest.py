"""SPEC section 10: the adapter's manifest (module.json fields, command placeholders, capabilities)."""

import re
import shutil
from pathlib import Path

from agentbus.manifest import DELIVERY_DOORS, KNOWN_DOORS, Manifest
from conformance.harness import Harness
from conformance.marks import rule
from conformance.rules import KNOWN_CAPABILITIES

REQUIRED = ("id", "title", "version", "spec", "runtime", "trigger", "command")


@rule("MAN-1")
def test_manifest_has_the_required_fields(agentbus_manifest: Manifest) -> None:
    """MAN-1: Each adapter ships a `module.json` with: `id`, `title`, `version`, `spec` (`"1"`), `runtime`,
    `delivery`, `trigger`, `command` (argv list), and optionally `entry` (Python `module:function`),
    `register` (how to register with the runtime; for MCP: `server_name`), `launch` (how a person starts a
    session with it) and `capabilities`."""
    raw = agentbus_manifest.raw
    missing = [key for key in REQUIRED if key not in raw]
    assert not missing, f"{agentbus_manifest.path}: missing {missing}"
    assert raw["spec"] == "1", f"spec is {raw['spec']!r}, this kit certifies spec '1'"
    for key in ("id", "title", "version", "runtime", "trigger"):
        assert isinstance(raw[key], str), f"{key} must be a non-empty string: {raw[key]!r}"
        assert raw[key], f"{key} must be a non-empty string: {raw[key]!r}"
    doors = raw.get("doors", DELIVERY_DOORS.get(raw.get("delivery", ""), None))
    assert doors, f"{agentbus_manifest.path}: no doors (a list of the doors it opens, best first)"
    unknown = [door for door in doors if door not in KNOWN_DOORS]
    assert not unknown, f"unknown door(s) {unknown}; doors are {', '.join(KNOWN_DOORS)}"
    if "entry" in raw:
        assert re.fullmatch(r"[\w.]+:\w+", raw["entry"]), f"entry is not module:function: {raw['entry']!r}"
    if "register" in raw:
        assert isinstance(raw["register"], dict), "register must be an object"
        if "channel" in doors or "native" in doors:
            assert isinstance(raw["register"].get("server_name"), str), "an MCP adapter names its server_name"


@rule("MAN-2")
def test_command_needs_nothing_but_its_placeholders(agentbus_manifest: Manifest) -> None:
    """MAN-2: `command` elements may use `{python}` (the interpreter running the harness) and `{dir}` (the
    manifest's directory). The harness needs nothing else to start the adapter, so an adapter in any
    language can be certified."""
    raw = agentbus_manifest.raw["command"]
    assert isinstance(raw, list), f"command: {raw!r}"
    assert raw, f"command: {raw!r}"
    assert all(isinstance(p, str) for p in raw), f"command: {raw!r}"
    unknown = sorted({m for part in raw for m in re.findall(r"\{[^}]*\}", part)} - {"{python}", "{dir}"})
    assert not unknown, f"command uses placeholders the harness does not fill: {unknown}"
    program = agentbus_manifest.command[0]
    found = Path(program).is_file() if "/" in program else shutil.which(program) is not None
    assert found, f"the command's program {program!r} does not exist"


@rule("MAN-3")
def test_claimed_capabilities_are_offered(agentbus_manifest: Manifest, harness: Harness) -> None:
    """MAN-3: `capabilities` lists the optional features the adapter claims: `read_messages`, `reply_to`.
    A claimed capability must work (its rules are then MUST)."""
    raw = agentbus_manifest.raw.get("capabilities", [])
    assert isinstance(raw, list), f"capabilities: {raw!r}"
    assert all(isinstance(c, str) for c in raw), f"capabilities: {raw!r}"
    claimed = set(raw) & KNOWN_CAPABILITIES
    session = harness.start("alice")
    tools = {t.get("name"): t for t in session.list_tools()}
    if "read_messages" in claimed:
        assert "read_messages" in tools, "capability read_messages claimed, but no read_messages tool"
    if "reply_to" in claimed:
        props = (tools.get("send_message", {}).get("inputSchema") or {}).get("properties") or {}
        assert "reply_to" in props, "capability reply_to claimed, but send_message takes no reply_to"
