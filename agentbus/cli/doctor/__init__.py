"""``agentbus doctor``: one pass/info/warn/fail line per check, each with a hint how to fix it.

Doctor never creates or modifies a bus: it reads bus.db over a read-only SQLite connection, or a
PostgreSQL bus (AGENTBUS_DB_URL) in read-only transactions, and the startup check runs the
registered command against a throwaway AGENTBUS_HOME. The bus section starts with the backend
(``bus.location``); the SQLite file gets permission and integrity checks, a PostgreSQL bus gets
server (connectivity, version) and privilege checks instead; schema, peers, mail and wake-ups are
checked on both. A database URL is only ever shown without its password.

Modules, in report order: environment (runtime, settings, adapters, Claude Code), registration,
startup (the spawn probe), location (backend, SQLite directory and permissions), sqlite (file
integrity, schema), postgres (server, privileges, listeners), mail (peers, mailboxes, receipts),
wake, codex (the codex binary, its config.toml table, the app-servers of sessions); model holds the Check
line and the Context, report runs them all and prints the result.
"""

from agentbus.cli.doctor.model import STATUSES, STUCK_AFTER_SECONDS, Check, Context, Status, overall
from agentbus.cli.doctor.report import doctor, run_checks

__all__ = ["STATUSES", "STUCK_AFTER_SECONDS", "Check", "Context", "Status", "doctor", "overall", "run_checks"]
