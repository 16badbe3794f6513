"""Certification tiers, and the gate that makes bus-file checks "not applicable" instead of tracebacks.

Two tiers (SPEC section 13): **wire** (what a client and the other sessions of the adapter see: stdio,
the tools' answers, the pushes, the process; no shared bus needed, an adapter may keep its own store)
and **bus** (the wire tier plus sharing the bus file of section 11 with other cores). A check judges
behaviour on both tiers and reads the bus besides only where ``Harness.bus_readable`` says it may; a
check that can only read the bus file asks the gate first: on the wire tier it is not applicable; on the bus tier a bus
without the shared schema makes it not applicable too, with one sentence naming what is missing
(SCHEMA-3, the rule about the tables, then fails with the same sentence). Reported as skipped with a reason
that starts with "not applicable", which the kit counts as its own outcome.
"""

import pytest

from conformance.busfile import BusReader
from conformance.requirements import NOT_APPLICABLE
from conformance.schema import schema_problem

TIERS = ("wire", "bus")
__all__ = ["NOT_APPLICABLE", "TIERS", "BusGate", "GatedReader"]

#: The schema verdict, checked once per process on the first bus that exists (None: not checked yet).
_schema_verdict: dict[str, str] = {}


class BusGate:
    """Asked before every read of the bus file; ``rule`` is the rule the test checks."""

    def __init__(self, tier: str, rule: str | None) -> None:
        self.tier = tier
        self.rule = rule or ""

    def check(self, db: BusReader) -> None:
        if self.tier == "wire":
            # Tests that read the bus say so (@requires("shared_bus")) and are skipped before they run.
            raise RuntimeError("kit error: a test that reads the shared bus is not marked @requires('shared_bus')")
        if self.rule == "SCHEMA-3":
            return  # the rule about the tables judges them itself, and fails with the same sentence
        if "verdict" not in _schema_verdict:
            if not db.exists():
                return
            _schema_verdict["verdict"] = schema_problem(db) or ""
        if _schema_verdict["verdict"]:
            pytest.skip(f"{NOT_APPLICABLE}: {_schema_verdict['verdict']}")

    def readable(self, db: BusReader) -> bool:
        """True when a test may also read the bus (bus tier, shared schema); never skips.

        For checks that judge behaviour over stdio and, where the bus is shared, confirm it in the
        tables too.
        """
        if self.tier == "wire":
            return False
        if "verdict" not in _schema_verdict and db.exists():
            _schema_verdict["verdict"] = schema_problem(db) or ""
        return not _schema_verdict.get("verdict")


class GatedReader(BusReader):
    """A bus reader whose every use asks the gate first (for buses a test makes besides its own)."""

    def __init__(self, reader: BusReader, gate: BusGate) -> None:
        self._reader = reader
        self._gate = gate

    @property
    def reader(self) -> BusReader:
        """The reader behind the gate (which kind of bus it is), without asking the gate."""
        return self._reader

    def __getattribute__(self, name: str) -> object:
        if name.startswith("_") or name == "reader":
            return object.__getattribute__(self, name)
        reader = object.__getattribute__(self, "_reader")
        object.__getattribute__(self, "_gate").check(reader)
        return getattr(reader, name)
