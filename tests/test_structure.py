"""The shape of the package: small modules, each opening with a docstring of what it is for.

(The import structure, no cycles and no upward imports, is lint-imports' job: pyproject.toml.)
"""

import ast
from pathlib import Path

import pytest

PACKAGES = [Path(__file__).parent.parent / name for name in ("agentbus", "fakeclaude", "conformance")]
MAX_LINES = 600
MODULES = sorted(path for package in PACKAGES for path in package.rglob("*.py") if "migrations" not in path.parts)


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(path.parents[1])))
def test_a_module_is_small_and_says_what_it_is_for(path: Path) -> None:
    source = path.read_text()
    lines = source.count("\n")
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines; split it by concern (at most {MAX_LINES})"
    if source.strip():
        assert ast.get_docstring(ast.parse(source)), f"{path.name} opens with no docstring of what it is for"
