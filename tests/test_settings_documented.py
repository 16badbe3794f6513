"""README's settings table is tested against Settings (not generated): same variables, same order, same defaults.

Adding a field to Settings without a README row, or changing a default in one place only, fails here.
"""

import dataclasses
import re
from pathlib import Path

from agentbus.core.config import Settings

README = Path(__file__).resolve().parent.parent / "README.md"
ROW = re.compile(r"^\| `(AGENTBUS_\w+)` \| ([^|]+) \|")


def shown(default: object) -> str:
    """A default as README writes it: ``unset``, or the value in backticks (``15`` for 15.0)."""
    if default is None:
        return "unset"
    text = f"{default:g}" if isinstance(default, float) else str(default)
    return f"`{text}`"


def documented() -> list[tuple[str, str]]:
    rows = [ROW.match(line) for line in README.read_text(encoding="utf-8").splitlines()]
    return [(row[1], row[2].strip()) for row in rows if row]


def test_readme_lists_every_setting_with_its_default() -> None:
    declared = [(each.metadata["env"], shown(each.default)) for each in dataclasses.fields(Settings)]
    assert documented() == declared
