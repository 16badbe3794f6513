"""Markers of the suite: ``@rule("DELIV-3")`` cites a SPEC rule, ``@requires(...)`` names a requirement."""

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from conformance.requirements import DOOR_REQUIREMENTS
from conformance.rules import LEVELS, RULES, Rule

F = TypeVar("F", bound=Callable[..., Any])

#: Marker lines registered by the plugin (pytest's ``markers`` ini format).
#: Marker names carry the kit's prefix, so a project's own ``must`` or ``spec`` marker cannot clash.
PREFIX = "agentbus_"
SPEC_MARK = PREFIX + "spec"
REQUIRES_MARK = PREFIX + "requires"
MARKERS = (
    f"{SPEC_MARK}(rule_id): the SPEC.md rule a conformance test checks (e.g. {SPEC_MARK}('DELIV-3'))",
    f"{PREFIX}must: the cited rule is a MUST rule; a failure fails certification",
    f"{PREFIX}should: the cited rule is a SHOULD rule; a failure is a warning unless --agentbus-strict",
    f"{PREFIX}may: the cited rule is a MAY rule, tested only when the adapter claims its capability",
    f"{REQUIRES_MARK}(*names, why=None): requirements (conformance.requirements.Requirements properties) the "
    "test needs; why says what the test is about, for the skip reason",
)


def rule(rule_id: str) -> Callable[[F], F]:
    """Mark a test as checking ``rule_id``: applies ``agentbus_spec(rule_id)`` and the level marker.

    The level comes from SPEC.md (``conformance.rules``), so a test cannot misstate it; a MAY rule
    also gets ``requires(<capability>)``, so it is skipped unless the manifest claims it, and a rule
    about one door the requirement of that door (not applicable to adapters that do not open it).
    """
    found: Rule | None = RULES.get(rule_id)
    if found is None:
        raise ValueError(f"unknown SPEC rule {rule_id!r}")
    assert found.level in LEVELS
    if found.door is not None and found.door not in DOOR_REQUIREMENTS:
        raise ValueError(f"SPEC rule {rule_id} names door {found.door!r}, which the kit does not know")

    def apply(func: F) -> F:
        marked: Any = getattr(pytest.mark, SPEC_MARK)(rule_id)(func)
        marked = getattr(pytest.mark, PREFIX + found.level)(marked)
        if found.capability:
            marked = getattr(pytest.mark, REQUIRES_MARK)(found.capability)(marked)
        if found.door:
            marked = getattr(pytest.mark, REQUIRES_MARK)(DOOR_REQUIREMENTS[found.door])(marked)
        return marked

    return apply


def bus_tier_only(reason: str) -> pytest.MarkDecorator:
    """A check SPEC marks "bus tier only": ``reason`` says in one sentence why a client cannot see it
    and what would make it visible; on the wire tier the test is not applicable with that sentence."""
    return getattr(pytest.mark, REQUIRES_MARK)("shared_bus", only=reason)


def requires(*names: str, why: str | None = None) -> pytest.MarkDecorator:
    """Skip the test (with the reason, prefixed by ``why`` when given) unless every named requirement is open."""
    mark = getattr(pytest.mark, REQUIRES_MARK)
    return mark(*names, why=why) if why else mark(*names)


def rule_of(item: pytest.Item) -> Rule | None:
    """The rule an item cites (its closest ``agentbus_spec`` marker), or None for a test outside the standard."""
    marker = item.get_closest_marker(SPEC_MARK)
    if marker is None or not marker.args:
        return None
    return RULES.get(str(marker.args[0]))
