"""The peers on the bus and their mailboxes: live and stale peers, pending and stuck mail, receipts."""

import time

from agentbus.cli.busfiles import bus_exists, scrub, uses_default_file, why_stale
from agentbus.cli.doctor.model import Check, Context, Status
from agentbus.cli.output import age
from agentbus.core.bus import HOST, Bus, MailboxStats, Peer

#: Mail a client received (queued for the model's next turn) but the model has not seen this long.
QUEUED_TOO_LONG_SECONDS = 600.0


def _elsewhere(peer: Peer) -> str:
    return "" if peer.host == HOST else f" on {peer.host}"


def check_peers(ctx: Context) -> list[Check]:
    settings = ctx.settings
    assert settings is not None
    if not ctx.bus_readable or not bus_exists(settings):
        return []
    try:
        with Bus.open_readonly(settings) as bus:
            everyone = bus.peers(include_stale=True)
            stats = bus.mailbox_stats()
            live = {p.name for p in everyone if bus.is_live(p)}
    except Exception as exc:  # doctor reports every way the bus cannot be read, never crashes on it
        hint = "see the integrity line above" if uses_default_file(settings) else "check AGENTBUS_DB_URL and the server"
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        message = scrub(message, settings)
        return [Check("bus.peers", "peers", "fail", f"cannot read the bus: {message}", hint)]
    now = time.time()
    ctx.live = [p for p in everyone if p.name in live]
    stale = [p for p in everyone if p.name not in live]
    checks: list[Check] = []
    if ctx.live:
        shown = ", ".join(f"{p.name} ({p.receives}, pid {p.pid}{_elsewhere(p)})" for p in ctx.live)
        checks.append(Check("bus.peers", "peers", "pass", f"{len(ctx.live)} live: {shown}"))
    else:
        checks.append(Check("bus.peers", "peers", "info", "no session is running"))
    if stale:
        shown = ", ".join(f"{p.name} ({why_stale(p, settings, now)})" for p in stale)
        checks.append(
            Check(
                "bus.stale_peers",
                "stale peers",
                "fail",
                f"{len(stale)} stale: {shown}",
                "sessions that ended without unregistering (crash, kill -9, reboot); "
                "clear them with `agentbus peers` (their mail stays queued)",
                {"stale": [p.name for p in stale]},
            )
        )
    checks.extend(_mail_checks(ctx, stats, now))
    return checks


def _mail_checks(ctx: Context, stats: list[MailboxStats], now: float) -> list[Check]:
    live = {p.name: p for p in ctx.live}
    pending = sum(s.pending for s in stats)
    delivered = sum(s.delivered for s in stats)
    details = {
        s.recipient: {"pending": s.pending, "delivered": s.delivered, "oldest_pending_at": s.oldest_pending_at}
        for s in stats
    }
    checks = [
        Check(
            "bus.mail",
            "mail",
            "pass",
            f"{len(stats)} mailbox(es): {pending} pending, {delivered} delivered",
            "",
            details,
        )
    ]
    for box in stats:
        if not box.pending:
            continue
        waited = now - (box.oldest_pending_at or now)
        peer = live.get(box.recipient)
        what = f"{box.pending} pending for {box.recipient}, oldest {age(waited)}"
        checks.extend(_receipt_checks(ctx, box, now))
        if box.unreceived + box.queued_in_client == box.pending:
            continue  # all of it is pushed and awaits its receipt: said above
        if peer is None:
            checks.append(Check(f"mail.{box.recipient}", "mail", "info", f"{what} (offline: delivered when it starts)"))
        elif peer.can_push and waited > ctx.stuck_after:
            checks.append(
                Check(
                    f"mail.{box.recipient}",
                    "stuck mail",
                    "fail",
                    f"{what}: {box.recipient} is live with push but is not draining its mailbox",
                    f"restart that session (pid {peer.pid}); if it recurs try AGENTBUS_TRIGGER=poll; "
                    f"see `agentbus inbox {box.recipient}`",
                )
            )
        elif not peer.can_push and waited > ctx.stuck_after:
            checks.append(
                Check(
                    f"mail.{box.recipient}",
                    "mail",
                    "warn",
                    f"{what}: {box.recipient} receives by pull only and has not read it",
                    "that session must call read_messages, or be started with `agentbus launch` to get pushes",
                )
            )
        else:
            checks.append(Check(f"mail.{box.recipient}", "mail", "info", f"{what} (live: being delivered)"))
    return checks


def _receipt_checks(ctx: Context, box: MailboxStats, now: float) -> list[Check]:
    """Mail pushed to a peer with receipts that its model has not seen: the real "stuck" signal."""
    checks = []
    if box.unreceived and box.oldest_unreceived_push is not None:
        waited = now - box.oldest_unreceived_push
        what = f"{box.unreceived} pushed to {box.recipient} but never received by its Claude Code, oldest {age(waited)}"
        if waited > ctx.stuck_after:
            checks.append(
                Check(
                    f"receipts.{box.recipient}",
                    "pushed, not seen",
                    "fail",
                    what + ": the session drops its channel events (each is pushed again every few seconds)",
                    f"restart it with `agentbus launch claude-mcp {box.recipient}` (the channels flag must name "
                    f"server:agentbus); `agentbus status ID` shows one message's ladder",
                )
            )
        else:
            checks.append(Check(f"receipts.{box.recipient}", "receipts", "info", what + " (awaiting its receipt)"))
    if box.queued_in_client and box.oldest_queued_in_client is not None:
        waited = now - box.oldest_queued_in_client
        what = f"{box.queued_in_client} queued in {box.recipient}'s Claude Code, not seen yet, oldest {age(waited)}"
        status: Status = "warn" if waited > QUEUED_TOO_LONG_SECONDS else "info"
        hint = "the model is in a long turn; it sees them when the turn ends" if status == "warn" else ""
        checks.append(Check(f"receipts.{box.recipient}.queued", "receipts", status, what, hint))
    return checks
