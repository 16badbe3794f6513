"""Broken adapter: claude-mcp whose reaping of a stale peer deletes its pending mail too (breaks PRES-4)."""

import sys
from collections.abc import Callable, Sequence

from agentbus.adapters.claude_mcp.server import main
from agentbus.core import presence
from agentbus.core.records import Peer
from agentbus.core.tx import Tx

honest_reap = presence.reap
DROP_MAIL = "DELETE FROM messages WHERE recipient = :name AND delivered_at IS NULL"


def reap_with_the_mail(stale: Sequence[Peer]) -> Callable[[Tx], None]:
    """Tidy, and wrong: a reaped peer's queued mail goes with its row."""
    remove_rows = honest_reap(stale)

    def work(tx: Tx) -> None:
        remove_rows(tx)
        for peer in stale:
            tx.run(DROP_MAIL, {"name": peer.name})

    return work


presence.reap = reap_with_the_mail

if __name__ == "__main__":
    sys.exit(main())
