"""Adapter manifests (module.json): loading, validation, and the command that starts an adapter."""

import json
import sys
from dataclasses import dataclass, field
from importlib import resources
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

ENTRY_POINT_GROUP = "agentbus.adapters"
REQUIRED_FIELDS = ("id", "title", "runtime", "trigger", "command")
#: The doors an adapter may name (SPEC section 8, DOOR-1), and the doors of each older ``delivery`` value.
KNOWN_DOORS = ("native", "channel", "app-server", "hook")
DELIVERY_DOORS = {"mcp-channel": ("channel",), "codex-app-server": ("app-server",)}


class ManifestError(ValueError):
    """A module.json that cannot be used, or an adapter name nobody registered."""


@dataclass(frozen=True)
class Manifest:
    """A parsed module.json. ``command`` is ready to exec: placeholders are already filled in."""

    id: str
    title: str
    version: str
    runtime: str
    #: The doors the adapter can open, best first (SPEC DOOR-1).
    doors: tuple[str, ...]
    trigger: str
    command: tuple[str, ...]
    path: Path
    entry: str | None = None
    register: dict[str, Any] = field(default_factory=dict)
    launch: str | None = None
    capabilities: frozenset[str] = frozenset()
    spec: str = "1"
    raw: dict[str, Any] = field(default_factory=dict)
    #: The certification tier the adapter claims (SPEC section 13): "bus" (shares the bus file) or "wire".
    tier: str = "bus"
    #: The command its client runs at each boundary (the ``hook`` door), ready to exec; empty without one.
    hook_command: tuple[str, ...] = ()

    @property
    def server_name(self) -> str:
        """Name under which the adapter is registered with its runtime (e.g. the MCP server key)."""
        return str(self.register.get("server_name", "agentbus"))


def _fill(part: str, manifest_dir: Path) -> str:
    return part.replace("{python}", sys.executable).replace("{dir}", str(manifest_dir))


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate a module.json; ManifestError names the file and the problem."""
    path = Path(path).resolve()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such manifest") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path}: not a readable JSON manifest ({exc})") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: a manifest is a JSON object")
    missing = [key for key in REQUIRED_FIELDS if key not in data]
    if missing:
        raise ManifestError(f"{path}: missing field(s) {', '.join(missing)}")
    command = data["command"]
    if not (isinstance(command, list) and command and all(isinstance(p, str) for p in command)):
        raise ManifestError(f"{path}: 'command' must be a non-empty list of strings")
    capabilities = data.get("capabilities", [])
    if not (isinstance(capabilities, list) and all(isinstance(c, str) for c in capabilities)):
        raise ManifestError(f"{path}: 'capabilities' must be a list of strings")
    hook_command = data.get("hook_command", [])
    if not (isinstance(hook_command, list) and all(isinstance(p, str) for p in hook_command)):
        raise ManifestError(f"{path}: 'hook_command' must be a list of strings")
    if "hook" in data.get("doors", []) and not hook_command:
        raise ManifestError(
            f"{path}: an adapter with the hook door names the command its client runs in 'hook_command'"
        )
    if data.get("tier", "bus") not in ("wire", "bus"):
        raise ManifestError(f'{path}: \'tier\' must be "wire" or "bus", not {data.get("tier")!r}')
    return Manifest(
        id=str(data["id"]),
        title=str(data["title"]),
        version=str(data.get("version", "0")),
        runtime=str(data["runtime"]),
        doors=_doors(data, path),
        trigger=str(data["trigger"]),
        command=tuple(_fill(part, path.parent) for part in command),
        path=path,
        entry=data.get("entry"),
        register=dict(data.get("register") or {}),
        launch=data.get("launch"),
        capabilities=frozenset(capabilities),
        tier=str(data.get("tier", "bus")),
        hook_command=tuple(_fill(part, path.parent) for part in hook_command),
        spec=str(data.get("spec", "1")),
        raw=data,
    )


def _doors(data: dict[str, Any], path: Path) -> tuple[str, ...]:
    """``doors`` (a list of known doors, best first), or the doors of the older ``delivery`` field."""
    if "doors" in data:
        doors = data["doors"]
        if not (isinstance(doors, list) and doors and all(isinstance(d, str) for d in doors)):
            raise ManifestError(f"{path}: 'doors' must be a non-empty list of door names")
        unknown = [door for door in doors if door not in KNOWN_DOORS]
        if unknown:
            raise ManifestError(
                f"{path}: unknown door(s) {', '.join(map(repr, unknown))}; doors are {', '.join(KNOWN_DOORS)}"
            )
        return tuple(doors)
    delivery = data.get("delivery")
    if delivery is None:
        raise ManifestError(f"{path}: missing field doors (the doors the adapter opens, best first)")
    if delivery not in DELIVERY_DOORS:
        raise ManifestError(f"{path}: unknown delivery {delivery!r}; name the adapter's doors in 'doors'")
    return DELIVERY_DOORS[str(delivery)]


def installed_adapters() -> dict[str, Path]:
    """Adapter id -> module.json path, for every ``agentbus.adapters`` entry point."""
    found: dict[str, Path] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        package = ep.value.split(":")[0]
        try:
            manifest = resources.files(package) / "module.json"
        except ModuleNotFoundError:
            continue
        found[ep.name] = Path(str(manifest))
    return found


def resolve_adapter(name_or_path: str) -> Manifest:
    """An entry-point name (``claude-mcp``) or a path to a module.json, as a Manifest."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".json" or candidate.is_file() or "/" in name_or_path:
        return load_manifest(candidate)
    known = installed_adapters()
    if name_or_path not in known:
        listing = ", ".join(sorted(known)) or "none installed"
        raise ManifestError(f"unknown adapter {name_or_path!r}; known adapters: {listing}")
    return load_manifest(known[name_or_path])
