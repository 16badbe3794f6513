"""Human commands on the bus: send, status, peers, inbox and tail."""

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import typer

from agentbus.cli.app import EXIT_FAILED, EXIT_USAGE, CliError, command
from agentbus.cli.busfiles import bus_exists, location, why_stale
from agentbus.cli.output import Output, one_line, since
from agentbus.core.bus import Bus, Peer, Receipt
from agentbus.core.config import Settings
from agentbus.core.envelope import Envelope, iso_utc
from agentbus.core.errors import UnknownMessage
from agentbus.core.names import BROADCAST, sanitize_name, validate_name
from agentbus.triggers import make_trigger

DEFAULT_SENDER = "cli"
EXIT_NOT_DELIVERED = 3
#: ``send --wait``: delivered, but the recipient gives no receipts, so "seen" cannot be proven.
EXIT_DELIVERED_UNCONFIRMED = 4
#: The rungs ``status`` prints, in ladder order (SPEC RCPT-1).
RUNGS = ("queued", "pushed", "received", "seen", "answered")
TAIL_POLL_SECONDS = 0.2
TAIL_BATCH = 10_000


def default_sender(settings: Settings) -> str:
    """$AGENTBUS_NAME (so a command run inside a session speaks as that session), else ``cli``."""
    raw = (settings.name or "").strip()
    return sanitize_name(raw) if raw else DEFAULT_SENDER


@contextmanager
def open_bus(settings: Settings) -> Iterator[Bus]:
    with Bus(settings) as bus:
        yield bus


def _no_bus(out: Output, settings: Settings) -> bool:
    if bus_exists(settings):
        return False
    out.note(f"no bus yet at {settings.home} (it is created when the first session starts)")
    return True


def _clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).strftime("%H:%M:%S")


@command("send")
def send(
    to: str = typer.Argument(..., help="Recipient peer name, or '*' for every live peer."),
    text: str = typer.Argument(..., help="Message text; '-' reads it from standard input."),
    sender: str | None = typer.Option(None, "--as", help="Sender name (default: $AGENTBUS_NAME, else 'cli')."),
    reply_to: int | None = typer.Option(None, "--reply-to", help="Id of the message this answers."),
    wait: float = typer.Option(
        0.0,
        "--wait",
        help="Wait up to this many seconds until the recipient's model has seen it (exit 0), or, for a "
        "recipient without receipts, until it was pushed or read (exit 4); exit 3 if neither in time.",
    ),
) -> None:
    """Send a message to a session (queued if it is offline; pushed when it is live)."""
    out = Output()
    settings = Settings.from_env()
    trigger = make_trigger(settings)
    body = sys.stdin.read() if text == "-" else text
    name = sender if sender is not None else default_sender(settings)
    with open_bus(settings) as bus:
        receipt = bus.send(name, to, body, reply_to=reply_to)
        for recipient in receipt.recipients:
            trigger.notify(recipient)
        if not receipt.ids:
            raise CliError("nothing sent: no other peer is online to broadcast to")
        for message_id, recipient in zip(receipt.ids, receipt.recipients, strict=True):
            state = "offline: queued until it starts" if recipient in receipt.queued_offline else "online"
            out.line(f"sent #{message_id} {name} -> {recipient} ({state})")
        if wait > 0:
            _wait_seen(bus, out, list(zip(receipt.ids, receipt.recipients, strict=True)), wait)


def _wait_seen(bus: Bus, out: Output, sent: list[tuple[int, str]], seconds: float) -> None:
    """Wait until each message is seen (recipient with receipts) or delivered (one without); say which."""
    deadline = time.monotonic() + seconds
    waiting = dict(sent)
    unconfirmed: list[int] = []
    while waiting:
        for message_id in list(waiting):
            found = bus.receipt(message_id)
            if found.seen_at is not None:
                out.line(f"seen #{message_id} by {waiting.pop(message_id)} (in its model's context)")
            elif found.delivered_at is not None and not found.recipient_receipts:
                how = "pushed" if found.pushed_at is not None else "read with read_messages"
                out.line(f"delivered #{message_id} to {waiting.pop(message_id)} ({how}; it gives no receipts)")
                unconfirmed.append(message_id)
        if not waiting:
            break
        if time.monotonic() >= deadline:
            states = ", ".join(f"#{i} ({n}: {bus.receipt(i).state})" for i, n in waiting.items())
            raise CliError(f"not seen within {seconds:g}s: {states}", EXIT_NOT_DELIVERED)
        time.sleep(0.05)
    if unconfirmed:
        raise typer.Exit(EXIT_DELIVERED_UNCONFIRMED)


def _receipt_json(found: Receipt) -> dict[str, object]:
    envelope = found.envelope
    times = {
        "queued": envelope.created_at,
        "pushed": found.pushed_at,
        "received": found.received_at,
        "seen": found.seen_at,
        "answered": found.answered_at,
    }
    return {
        "id": envelope.id,
        "from": envelope.sender,
        "to": envelope.recipient,
        "state": found.state,
        "ladder": {rung: (iso_utc(at) if at is not None else None) for rung, at in times.items()},
        "delivered": iso_utc(found.delivered_at) if found.delivered_at is not None else None,
        "answer_id": found.answer_id,
        "attempts": found.attempts,
        "recipient_live": found.recipient_live,
        "recipient_receipts": found.recipient_receipts,
    }


@command("status")
def status(
    message_id: int = typer.Argument(..., help="The message id (send prints it: 'sent #ID')."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Where one message is: queued, pushed, received, seen, answered, with the time of each rung."""
    out = Output()
    settings = Settings.from_env()
    if _no_bus(out, settings):
        raise CliError(f"no message {message_id}: there is no bus yet", EXIT_FAILED)
    with open_bus(settings) as bus:
        try:
            found = bus.receipt(message_id)
        except UnknownMessage as exc:
            raise CliError(str(exc), EXIT_FAILED) from None
    data = _receipt_json(found)
    if as_json:
        out.line(json.dumps(data, indent=2, ensure_ascii=False))
        return
    envelope = found.envelope
    out.line(f"#{envelope.id} {envelope.sender} -> {envelope.recipient}: {found.state}")
    ladder = data["ladder"]
    assert isinstance(ladder, dict)
    for rung in RUNGS:
        at = ladder[rung]
        when = "-" if at is None else at
        extra = ""
        if rung == "answered" and found.answer_id is not None:
            extra = f" by #{found.answer_id}"
        out.line(f"  {rung:<9} {when}{extra}")
    if not found.recipient_receipts and found.seen_at is None:
        out.note(f"{envelope.recipient} gives no receipts: 'seen' cannot be proven for it")


def _peer_json(peer: Peer, live: bool) -> dict[str, object]:
    return {
        "name": peer.name,
        "adapter": peer.adapter,
        "can_push": peer.can_push,
        "door": peer.door if peer.can_push else "pull",
        "pid": peer.pid,
        "host": peer.host,
        "started_at": peer.started_at,
        "last_seen": peer.last_seen,
        "live": live,
    }


@command("peers")
def peers(
    show_all: bool = typer.Option(False, "--all", "-a", help="Also show stale peers (without reaping them)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Sessions on the bus. Listing reaps stale entries (their mail stays queued) unless --all."""
    out = Output()
    settings = Settings.from_env()
    if _no_bus(out, settings):
        if as_json:
            out.line("[]")
        return
    with open_bus(settings) as bus:
        found = bus.peers(include_stale=show_all)
        live = {p.name for p in found if bus.is_live(p)}
    now = time.time()
    if as_json:
        out.line(json.dumps([_peer_json(p, p.name in live) for p in found], indent=2))
        return
    if not found:
        out.line("no session is online")
        return
    rows = []
    for peer in found:
        state = "live" if peer.name in live else f"stale ({why_stale(peer, settings, now)})"
        rows.append([peer.name, peer.adapter, peer.receives, str(peer.pid), since(peer.last_seen, now), state])
    out.table(["NAME", "ADAPTER", "RECEIVES", "PID", "SEEN", "STATE"], rows)


def _message_json(envelope: Envelope, status: str | None = None) -> dict[str, object]:
    data: dict[str, object] = {
        "id": envelope.id,
        "from": envelope.sender,
        "to": envelope.recipient,
        "text": envelope.body,
        "ts": envelope.ts,
        "reply_to": envelope.reply_to,
    }
    if status is not None:
        data["status"] = status
    return data


@command("inbox")
def inbox(
    name: str = typer.Argument(..., help="Peer name whose mailbox to show."),
    limit: int = typer.Option(10, "--limit", "-n", help="How many recent messages to show."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Pending mail for NAME and its recent messages (a read-only view: nothing is marked delivered)."""
    out = Output()
    settings = Settings.from_env()
    validate_name(name, what="peer name")
    if _no_bus(out, settings):
        if as_json:
            out.line(json.dumps({"pending": [], "recent": []}))
        return
    with open_bus(settings) as bus:
        pending = bus.pending(name)
        recent = bus.history(name, limit=limit)
        status = {e.id: bus.receipt(e.id).state for e in recent}
    if as_json:
        payload = {
            "pending": [_message_json(e) for e in pending],
            "recent": [_message_json(e, status[e.id]) for e in recent],
        }
        out.line(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    now = time.time()
    if pending:
        rows = [[f"#{e.id}", since(e.created_at, now), e.sender, one_line(e.body, 60)] for e in pending]
        out.table(["ID", "WAITING", "FROM", "TEXT"], rows, title=f"pending for {name} ({len(pending)})")
    else:
        out.line(f"no pending mail for {name}")
    if recent:
        rows = [
            [f"#{e.id}", _clock(e.created_at), e.sender, e.recipient, status[e.id], one_line(e.body, 50)]
            for e in recent
        ]
        out.table(["ID", "TIME", "FROM", "TO", "STATUS", "TEXT"], rows, title=f"recent messages of {name}")


def _tail_line(out: Output, envelope: Envelope) -> None:
    reply = f" (reply to #{envelope.reply_to})" if envelope.reply_to is not None else ""
    recipient = "everyone" if envelope.recipient == BROADCAST else envelope.recipient
    plain = f"{envelope.ts} #{envelope.id} {envelope.sender} -> {recipient}{reply}: {one_line(envelope.body, 200)}"
    if out.rich:
        from rich.markup import escape

        out.markup(
            f"[dim]{_clock(envelope.created_at)}[/] [cyan]#{envelope.id}[/] [bold]{escape(envelope.sender)}[/] → "
            f"[bold]{escape(recipient)}[/]{escape(reply)}: {escape(one_line(envelope.body, 200))}",
            plain,
        )
    else:
        out.line(plain)


@command("tail")
def tail(
    peer: str | None = typer.Option(None, "--peer", help="Only messages to or from this peer."),
    after: int | None = typer.Option(None, "--after", help="Start after this message id (default: the newest)."),
    count: int = typer.Option(0, "--count", "-c", help="Stop after this many messages (0: never)."),
    timeout: float = typer.Option(0.0, "--timeout", help="Stop after this many seconds (0: never)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Follow messages as they are sent, until Ctrl-C (or --count / --timeout)."""
    out = Output()
    settings = Settings.from_env()
    if peer is not None:
        validate_name(peer, what="peer name")
    if count < 0 or timeout < 0:
        raise CliError("--count and --timeout must not be negative", EXIT_USAGE)
    deadline = time.monotonic() + timeout if timeout else None
    seen = 0
    with open_bus(settings) as bus:
        if after is None:
            newest = bus.history(peer, limit=1)
            after = newest[-1].id if newest else 0
        out.note(f"following messages on {location(settings)} after #{after} (Ctrl-C to stop)")
        try:
            while True:
                for envelope in bus.history(peer, limit=TAIL_BATCH, after_id=after):
                    after = envelope.id
                    if as_json:
                        out.line(json.dumps(_message_json(envelope), ensure_ascii=False))
                    else:
                        _tail_line(out, envelope)
                    seen += 1
                    if count and seen >= count:
                        return
                if deadline is not None and time.monotonic() >= deadline:
                    if count:
                        raise CliError(f"timed out after {timeout:g}s with {seen} of {count} messages", EXIT_FAILED)
                    return
                time.sleep(TAIL_POLL_SECONDS)
        except KeyboardInterrupt:
            return
