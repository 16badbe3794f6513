"""One open write transaction as the bus's statements see it, on either driver."""

from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class Tx(Protocol):
    """Run a statement (its row count), fetch its rows or first row, serialise a mailbox's claimers.

    Statements are plain SQL with named parameters (``:name``); a list parameter (``IN (:ids)``) is
    expanded by the driver.
    """

    def run(self, sql: str, params: Mapping[str, Any]) -> int: ...

    def first(self, sql: str, params: Mapping[str, Any]) -> Sequence[Any] | None: ...

    def rows(self, sql: str, params: Mapping[str, Any]) -> list[Sequence[Any]]: ...

    def lock_mailbox(self, recipient: str) -> None: ...
