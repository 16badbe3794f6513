"""Markers of the suite: ``@rule("DELIV-3")`` cites a SPEC rule, ``@requires(...)`` names a requirement."""

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from conformance.rules import LEVELS, RULES, Rule

F = TypeVar("F", bound=Callable[..., Any])

#: Marker lines registered by the plugin (pytest's ``markers`` ini format).
MARKERS = (
    "spec(rule_id): the SPEC.md rule a conformance test checks (e.g. spec('DELIV-3'))",
    "must: the cited rule is a MUST rule; a failure fails certification",
    "should: the cited rule is a SHOULD rule; a failure is a warning unless --agentbus-strict",
    "may: the cited rule is a MAY rule, tested only when the adapter claims its capability",
    "requires(*names, why=None): requirements (conformance.requirements.Requirements properties) the test "
    "needs; why says what the test is about, for the skip reason",
)


def rule(rule_id: str) -> Callable[[F], F]:
    """Mark a test as checking ``rule_id``: applies ``spec(rule_id)`` and the rule's level marker.

    The level comes from SPEC.md (``conformance.rules``), so a test cannot misstate it; a MAY rule
    also gets ``requires(<capability>)``, so it is skipped unless the manifest claims it.
    """
    found: Rule | None = RULES.get(rule_id)
    if found is None:
        raise ValueError(f"unknown SPEC rule {rule_id!r}")
    assert found.level in LEVELS

    def apply(func: F) -> F:
        marked: Any = pytest.mark.spec(rule_id)(func)
        marked = getattr(pytest.mark, found.level)(marked)
        if found.capability:
            marked = pytest.mark.requires(found.capability)(marked)
        return marked  # type: ignore[no-any-return]

    return apply


def requires(*names: str, why: str | None = None) -> pytest.MarkDecorator:
    """Skip the test (with the reason, prefixed by ``why`` when given) unless every named requirement is open."""
    return pytest.mark.requires(*names, why=why) if why else pytest.mark.requires(*names)


def rule_of(item: pytest.Item) -> Rule | None:
    """The rule an item cites (its closest ``spec`` marker), or None for a test outside the standard."""
    marker = item.get_closest_marker("spec")
    if marker is None or not marker.args:
        return None
    return RULES.get(str(marker.args[0]))
