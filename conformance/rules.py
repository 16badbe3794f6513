"""The rules of SPEC.md (standard version 1): id, level, capability and the rule text quoted."""

from dataclasses import dataclass
from typing import Literal

SPEC_VERSION = "1"

Level = Literal["must", "should", "may"]
LEVELS: tuple[Level, ...] = ("must", "should", "may")


@dataclass(frozen=True)
class Rule:
    """One numbered rule: ``id`` (``DELIV-3``), ``level``, the capability a MAY rule needs, the quoted text."""

    id: str
    level: Level
    section: str
    text: str
    capability: str | None = None

    @property
    def heading(self) -> str:
        """``DELIV-3 (MUST)``, as SPEC.md writes it."""
        cap = f", capability `{self.capability}`" if self.capability else ""
        return f"{self.id} ({self.level.upper()}{cap})"


_RULES = (
    Rule(
        "ENV-1",
        "must",
        "1. Envelope",
        (
            "A message is an envelope with `id` (integer), `from` (sender name), `to` (recipient name), `body` "
            "(string), `created_at` (UTC time of enqueue) and optional `reply_to` (the id of an earlier message)."
        ),
    ),
    Rule(
        "ENV-2",
        "must",
        "1. Envelope",
        ("Ids are assigned by the bus at enqueue, strictly increasing, never reused (also after pruning)."),
    ),
    Rule(
        "ENV-3",
        "must",
        "1. Envelope",
        (
            "`from` is always the identity of the sending adapter as registered on the bus. No tool argument can "
            "set it; a peer cannot send as someone else."
        ),
    ),
    Rule(
        "ENV-4",
        "must",
        "1. Envelope",
        ("The body is delivered byte-for-byte as sent (any valid Unicode except NUL)."),
    ),
    Rule(
        "NAME-1",
        "must",
        "2. Names",
        (
            "A name matches `[a-z0-9_-]{1,32}`. Anything else is refused with an error that states the rule. `*` "
            "is reserved for broadcast and is never a peer name."
        ),
    ),
    Rule(
        "NAME-2",
        "must",
        "2. Names",
        (
            "An adapter takes its name from `AGENTBUS_NAME`, sanitised: lower-cased, every run of other "
            "characters replaced by `-`, trimmed of `-`, cut to 32 characters. An empty result becomes a "
            "generated `agent-xxxx` (4 hex digits)."
        ),
    ),
    Rule(
        "NAME-3",
        "must",
        "2. Names",
        (
            "Collision policy at start: an adapter never takes a name a live peer holds. If the requested name is"
            " held, it registers `name-2`, `name-3`, ... (the first free one) and says so in `whoami`. A name "
            "held only by a stale or dead peer is taken over."
        ),
    ),
    Rule(
        "NAME-4",
        "must",
        "2. Names",
        (
            "`set_name` to a name a live peer holds is refused with an error saying the name is taken (the "
            "reference wording starts `name taken:`); renaming is atomic and the peer's pending mail follows "
            "it to the new name."
        ),
    ),
    Rule(
        "LIMIT-1",
        "must",
        "3. Limits",
        (
            "A body larger than the maximum (default 65,536 bytes of UTF-8, `AGENTBUS_MAX_BODY`) is refused with "
            "an error naming the size and the limit. It is never truncated."
        ),
    ),
    Rule(
        "LIMIT-2",
        "must",
        "3. Limits",
        (
            "An empty body, a body containing NUL, and a body that is not valid Unicode (lone surrogates) are "
            "refused with an error."
        ),
    ),
    Rule(
        "LIMIT-3",
        "must",
        "3. Limits",
        (
            "Arguments of the wrong type (a number for `to`, `null` for `text`, a missing argument) are refused "
            "with an error, never a crash."
        ),
    ),
    Rule(
        "LIMIT-4",
        "should",
        "3. Limits",
        (
            "Each sender is rate limited (default 600 messages per rolling minute, "
            "`AGENTBUS_RATE_LIMIT_PER_MINUTE`, `0` disables) with an error that suggests a reply loop, so two "
            "agents ping-ponging cannot flood the bus."
        ),
    ),
    Rule(
        "PRES-1",
        "must",
        "4. Presence",
        ("An adapter registers its name when it starts, before it answers the client's first request."),
    ),
    Rule(
        "PRES-2",
        "must",
        "4. Presence",
        ("A registered adapter refreshes `last_seen` at least every 15 s."),
    ),
    Rule(
        "PRES-3",
        "must",
        "4. Presence",
        (
            "A peer is live when seen within 45 s, and, when its row names this host, its process exists. A peer "
            "whose process is gone on this host is offline at once. Queries reap non-live rows."
        ),
    ),
    Rule(
        "PRES-4",
        "must",
        "4. Presence",
        ("Reaping a peer never deletes its mail: pending messages wait for the name."),
    ),
    Rule(
        "PRES-5",
        "must",
        "4. Presence",
        ("An adapter unregisters when it exits normally (stdin EOF, SIGTERM)."),
    ),
    Rule(
        "PRES-6",
        "should",
        "4. Presence",
        (
            "`list_peers` tells for each peer whether it receives by push or only by pull (`can_push`), and marks"
            " the caller."
        ),
    ),
    Rule(
        "MBOX-1",
        "must",
        "5. Mailbox",
        (
            "Sending to a valid name that is not online queues the message (offline mailbox) and the result says "
            "it was queued, not delivered."
        ),
    ),
    Rule(
        "MBOX-2",
        "must",
        "5. Mailbox",
        (
            "Sending to `*` (the `broadcast` tool) enqueues one message per live peer other than the sender; with"
            " nobody else online the result says nothing was sent."
        ),
    ),
    Rule(
        "MBOX-3",
        "must",
        "5. Mailbox",
        ("Sending to oneself is refused with an error."),
    ),
    Rule(
        "MBOX-4",
        "must",
        "5. Mailbox",
        (
            "A send that returned success is durable: it is on the bus even if the sender is killed immediately "
            "afterwards."
        ),
    ),
    Rule(
        "MBOX-5",
        "must",
        "5. Mailbox",
        (
            "Delivered messages are kept at least 24 h (`AGENTBUS_DELIVERED_TTL_SECONDS`) and then may be pruned."
            " Pending messages are never pruned."
        ),
    ),
    Rule(
        "DELIV-1",
        "must",
        "6. Delivery",
        (
            "The claude-mcp delivery pushes each message as the JSON-RPC notification "
            '`notifications/claude/channel` with params `{"content": <body>, "meta": {...}}`.'
        ),
    ),
    Rule(
        "DELIV-2",
        "must",
        "6. Delivery",
        (
            "`meta` holds `from`, `msg_id` (decimal string), `ts` (ISO 8601 UTC with `Z`, e.g. "
            "`2026-11-25T14:00:00.123Z`) and, when set, `reply_to` (decimal string). Every key matches "
            "`^[a-zA-Z_][a-zA-Z0-9_]*$` and every value is a string."
        ),
    ),
    Rule(
        "DELIV-3",
        "must",
        "6. Delivery",
        (
            "A message is stamped delivered only after the Delivery port resolved (the notification was written)."
            " A push that fails leaves it pending."
        ),
    ),
    Rule(
        "DELIV-4",
        "must",
        "6. Delivery",
        ("Messages to one recipient are pushed in id order."),
    ),
    Rule(
        "DELIV-5",
        "must",
        "6. Delivery",
        (
            "At-least-once: a message claimed by a drainer that dies before the delivered stamp is delivered "
            "again later (after its lease expires, or at once when the claimer's process is known dead on this "
            "host). Duplicates are allowed in that case; loss is not."
        ),
    ),
    Rule(
        "DELIV-6",
        "must",
        "6. Delivery",
        (
            "Two drainers of one mailbox never push the same message at the same time: a drainer claims rows with"
            " a lease (`claimed_by`, `claimed_at`, default 30 s) and a mailbox with a live lease held by another "
            "claimer is not claimed."
        ),
    ),
    Rule(
        "DELIV-7",
        "must",
        "6. Delivery",
        (
            "Pending mail is pushed as soon as the client is ready: at launch (after `notifications/initialized`)"
            " an adapter drains what waited while it was offline."
        ),
    ),
    Rule(
        "DELIV-8",
        "must",
        "6. Delivery",
        ("With several concurrent senders nothing is lost and nothing is pushed twice."),
    ),
    Rule(
        "DELIV-9",
        "should",
        "6. Delivery",
        (
            "No lost wakeups: a wake that arrives while a drain runs causes another pass, so a message is pushed "
            "without waiting for the safety poll (well under 1 s on an idle machine)."
        ),
    ),
    Rule(
        "DELIV-10",
        "must",
        "6. Delivery",
        ("A safety poll (every 3 s, `AGENTBUS_SAFETY_POLL_SECONDS`, `0` disables) backs the primary trigger."),
    ),
    Rule(
        "DELIV-11",
        "may",
        "6. Delivery",
        (
            "A pull tool `read_messages` returns pending messages rendered like channel events and stamps them "
            "delivered as it returns them (for sessions started without channels, whose pushes the client drops)."
        ),
        "read_messages",
    ),
    Rule(
        "DELIV-12",
        "may",
        "6. Delivery",
        (
            "`send_message` accepts `reply_to` (an id of a message sent to or by the caller); the push carries it"
            " in `meta.reply_to`. An unknown id is refused."
        ),
        "reply_to",
    ),
    Rule(
        "PORT-1",
        "must",
        "7. Ports and triggers",
        (
            "`Trigger` has `arm(self_name, on_wake) -> disposer` and `notify(recipient)`. `on_wake` may be called"
            " from any thread; `notify` never raises (a failed wake is covered by the safety poll)."
        ),
    ),
    Rule(
        "PORT-2",
        "must",
        "7. Ports and triggers",
        ("`Delivery` has `async deliver(envelope)`; returning means the write resolved, raising means it did not."),
    ),
    Rule(
        "TRIG-1",
        "must",
        "7. Ports and triggers",
        (
            "The file-watch trigger (the default on SQLite; PostgreSQL buses default to pg-notify) keeps one "
            "wake file per peer at `AGENTBUS_HOME/wake/<name>`; `notify` writes it, `arm` watches it "
            "(watchdog)."
        ),
    ),
    Rule(
        "TRIG-2",
        "must",
        "7. Ports and triggers",
        (
            "`AGENTBUS_TRIGGER=poll` selects the poll trigger; an unknown value makes the adapter exit "
            "non-zero with a stderr line naming the choices."
        ),
    ),
    Rule(
        "MCP-1",
        "must",
        "8. The MCP adapter protocol (claude-mcp and compatible adapters)",
        (
            "The adapter speaks JSON-RPC 2.0 over stdio, one message per line, and writes nothing else to stdout."
            " Logs go to stderr."
        ),
    ),
    Rule(
        "MCP-2",
        "must",
        "8. The MCP adapter protocol (claude-mcp and compatible adapters)",
        (
            'The `initialize` result declares `capabilities.experimental["claude/channel"]` (an object) and '
            "carries `instructions` explaining the `<channel>` tag, that senders are other agents, and how to "
            "reply."
        ),
    ),
    Rule(
        "MCP-3",
        "must",
        "8. The MCP adapter protocol (claude-mcp and compatible adapters)",
        (
            "A client that opens with `server/discover` (2026-07-28 protocol) must end up with the channel "
            "capability and working pushes. agentbus answers `server/discover` with error -32601 so the client "
            "falls back to `initialize`."
        ),
    ),
    Rule(
        "MCP-4",
        "must",
        "8. The MCP adapter protocol (claude-mcp and compatible adapters)",
        (
            "Tools `send_message(to, text)`, `broadcast(text)`, `list_peers()`, `whoami()`, `set_name(name)` "
            "exist with JSON Schema input schemas naming their arguments (`to`, `text`, `name` required where "
            "given)."
        ),
    ),
    Rule(
        "MCP-5",
        "must",
        "8. The MCP adapter protocol (claude-mcp and compatible adapters)",
        (
            "A tool failure is a tool result with `isError: true` and one sentence saying what was wrong (unknown"
            " or invalid name, self-send, body too large, name taken, wrong types), never a JSON-RPC internal "
            "error and never a crash."
        ),
    ),
    Rule(
        "MCP-6",
        "must",
        "8. The MCP adapter protocol (claude-mcp and compatible adapters)",
        (
            "Malformed input on stdin gets a JSON-RPC error response and the adapter keeps working: invalid "
            "JSON or invalid UTF-8 gets -32700 with `id: null`; a non-object or an object that is not a "
            "valid request gets -32600 (with the request's id when it can be read); an unknown method with "
            "an id gets -32601; invalid params get -32602 or a tool error. A line longer than 16 MiB may be "
            "dropped without a response (and logged on stderr); the next line is served."
        ),
    ),
    Rule(
        "MCP-7",
        "should",
        "8. The MCP adapter protocol (claude-mcp and compatible adapters)",
        (
            'Taken together, the tool names and descriptions contain "agentbus", "peer" and "reply", and '
            "`send_message`'s description says it is how to reply, so a client that defers tools behind a "
            "search step finds them."
        ),
    ),
    Rule(
        "LIFE-1",
        "must",
        "9. Adapter lifecycle",
        (
            "The adapter exits within 1 s after its stdin reaches EOF, and within 1 s of SIGTERM, unregistering "
            "itself; no background task or thread keeps it alive."
        ),
    ),
    Rule(
        "LIFE-2",
        "must",
        "9. Adapter lifecycle",
        (
            "The adapter honours `AGENTBUS_NAME`, `AGENTBUS_HOME` and `AGENTBUS_TRIGGER`, and the tunables "
            "the conformance suite sets: `AGENTBUS_HEARTBEAT_SECONDS` (PRES-2), `AGENTBUS_STALE_SECONDS` "
            "(PRES-3), `AGENTBUS_LEASE_SECONDS` (DELIV-6), `AGENTBUS_SAFETY_POLL_SECONDS` (DELIV-10), "
            "`AGENTBUS_BUSY_TIMEOUT_SECONDS` (LIFE-3), `AGENTBUS_DELIVERED_TTL_SECONDS` (MBOX-5), "
            "`AGENTBUS_MAX_BODY` (LIMIT-1), `AGENTBUS_RATE_LIMIT_PER_MINUTE` (LIMIT-4) and `AGENTBUS_DB_URL` "
            "(section 11)."
        ),
    ),
    Rule(
        "LIFE-3",
        "must",
        "9. Adapter lifecycle",
        (
            "A bus it cannot use (corrupt, unsafe permissions, locked beyond the busy timeout) is reported on "
            "stderr in one sentence and the adapter exits non-zero; it never creates a second bus elsewhere."
        ),
    ),
    Rule(
        "LIFE-4",
        "should",
        "9. Adapter lifecycle",
        ("Cold start (spawn to `initialize` result) under 400 ms."),
    ),
    Rule(
        "MAN-1",
        "must",
        "10. Manifest (`module.json`)",
        (
            'Each adapter ships a `module.json` with: `id`, `title`, `version`, `spec` (`"1"`), `runtime`, '
            "`delivery`, `trigger`, `command` (argv list), and optionally `entry` (Python `module:function`), "
            "`register` (how to register with the runtime; for MCP: `server_name`), `launch` (how a person starts"
            " a session with it) and `capabilities`."
        ),
    ),
    Rule(
        "MAN-2",
        "must",
        "10. Manifest (`module.json`)",
        (
            "`command` elements may use `{python}` (the interpreter running the harness) and `{dir}` (the "
            "manifest's directory). The harness needs nothing else to start the adapter, so an adapter in any "
            "language can be certified."
        ),
    ),
    Rule(
        "MAN-3",
        "must",
        "10. Manifest (`module.json`)",
        (
            "`capabilities` lists the optional features the adapter claims: `read_messages`, `reply_to`. A "
            "claimed capability must work (its rules are then MUST)."
        ),
    ),
    Rule(
        "SCHEMA-1",
        "must",
        "11. The bus file (shared schema, version `0001`)",
        (
            "The bus is the SQLite database `AGENTBUS_HOME/bus.db` (default `~/.agentbus/bus.db`), in WAL "
            "mode (switched once, under the setup lock), used with a busy timeout (default 5 s). Every write "
            "transaction starts with `BEGIN IMMEDIATE`. With `AGENTBUS_DB_URL` set to a PostgreSQL URL the "
            "same tables live in that database instead; claims then serialise per mailbox with "
            "`pg_advisory_xact_lock(727275, hashtext(recipient))`, setup with `pg_advisory_lock(727274)`, "
            'and wake-ups use `NOTIFY "agentbus.wake.<name>"`.'
        ),
    ),
    Rule(
        "SCHEMA-2",
        "must",
        "11. The bus file (shared schema, version `0001`)",
        (
            "The schema version is the single row of `alembic_version.version_num`. A core refuses a bus "
            "whose revision it does not know. Migrations are applied under an exclusive `flock` on "
            "`AGENTBUS_HOME/bus.lock` (on PostgreSQL: `pg_advisory_lock(727274)`)."
        ),
    ),
    Rule(
        "SCHEMA-3",
        "must",
        "11. The bus file (shared schema, version `0001`)",
        (
            "Tables (times are Unix epoch seconds as REAL, UTC): `peers(name TEXT PRIMARY KEY, session_id TEXT "
            "NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL, adapter TEXT NOT NULL, can_push BOOLEAN NOT "
            "NULL, started_at REAL NOT NULL, last_seen REAL NOT NULL)` `messages(id INTEGER PRIMARY KEY "
            "AUTOINCREMENT, sender TEXT NOT NULL, recipient TEXT NOT NULL, body TEXT NOT NULL, created_at REAL "
            "NOT NULL, reply_to INTEGER NULL, delivered_at REAL NULL, claimed_by TEXT NULL, claimed_at REAL NULL,"
            " attempts INTEGER NOT NULL DEFAULT 0)` with indexes `ix_messages_pending(recipient, delivered_at, "
            "id)` and `ix_messages_sender_time(sender, created_at)`."
        ),
    ),
    Rule(
        "SCHEMA-4",
        "must",
        "11. The bus file (shared schema, version `0001`)",
        (
            "A row is pending while `delivered_at IS NULL`. To claim, in one write transaction: if any pending "
            "row of the recipient has `claimed_by` of another claimer with `claimed_at` newer than now minus the "
            "lease, and that claimer is not known dead, claim nothing; otherwise set `claimed_by`, `claimed_at`, "
            "`attempts = attempts + 1` on the oldest pending rows (by id). After a push, set `delivered_at` and "
            "clear the claim; after a failed push, clear the claim."
        ),
    ),
    Rule(
        "SCHEMA-5",
        "must",
        "11. The bus file (shared schema, version `0001`)",
        ("`claimed_by` is `<host>:<pid>:<session>` so any process on the same host can tell that a claimer died."),
    ),
    Rule(
        "SCHEMA-6",
        "must",
        "11. The bus file (shared schema, version `0001`)",
        (
            "Renaming moves the pending rows (`recipient`) and the `peers` row in one transaction, clearing their"
            " claims."
        ),
    ),
    Rule(
        "SEC-1",
        "must",
        "12. Security",
        (
            "On SQLite, `AGENTBUS_HOME` is created 0700 and `bus.db` 0600. A home that is group- or "
            "world-writable or owned by another user is refused with an error that says how to fix it."
        ),
    ),
    Rule(
        "SEC-2",
        "must",
        "12. Security",
        ("An adapter opens no network socket, except connections to the database server named by `AGENTBUS_DB_URL`."),
    ),
    Rule(
        "SEC-3",
        "should",
        "12. Security",
        (
            "The adapter's instructions tell the model that channel content comes from other agents and is "
            "information, not the user's instructions."
        ),
    ),
)

#: Every rule of the standard by id, in SPEC.md order.
RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}

#: Rules the kit cannot check through stdio and the bus file, and why.
NOT_TESTABLE: dict[str, str] = {
    "PORT-1": "a Python API of the core (Trigger port); the core's own tests cover it",
    "PORT-2": "a Python API of the core (Delivery port); the core's own tests cover it",
}

#: Capabilities that SPEC.md defines (MAN-3); a manifest may claim others, which the kit ignores.
KNOWN_CAPABILITIES: frozenset[str] = frozenset(r.capability for r in _RULES if r.capability)
