"""SPEC section 6c: the permission relay (AGENTBUS_APPROVER), as the client and the peers see it over stdio.

fakeclaude plays Claude Code's side: it sends ``notifications/claude/channel/permission_request`` as
the real client does while its dialog is open, and records the verdict notifications the adapter
writes back. What reached a session before a sentinel message proves what did not (DELIV-4 order).
"""

import contextlib
from typing import Any

from conformance.checks import bodies_before_sentinel, send
from conformance.harness import Harness
from conformance.marks import rule
from fakeclaude import Session
from fakeclaude.waiting import wait_until

CAPABILITY = "claude/channel/permission"
REQUEST_METHOD = "notifications/claude/channel/permission_request"
VERDICT_METHOD = "notifications/claude/channel/permission"
APPROVED_BY_LEAD = {"AGENTBUS_APPROVER": "lead"}


def _request(request_id: str, command: str = "ls -la") -> dict[str, str]:
    """The params Claude Code sends (its input preview is the tool input as JSON, cut at 200 characters)."""
    return {
        "request_id": request_id,
        "tool_name": "Bash",
        "description": f"Run {command}",
        "input_preview": f'{{"command":"{command}"}}',
    }


def _verdicts(session: Session) -> list[dict[str, Any]]:
    return [
        dict(record.message.get("params") or {})
        for record in list(session.notifications)
        if record.message is not None and record.method == VERDICT_METHOD
    ]


def _relayed(lead: Session, request_id: str, timeout: float = 10.0) -> str:
    event = lead.wait_for_channel(lambda e: request_id in e.content, timeout=timeout)
    return event.content


def _experimental(session: Session) -> dict[str, Any]:
    experimental = session.server_capabilities.get("experimental")
    return experimental if isinstance(experimental, dict) else {}


@rule("PERM-1")
def test_capability_only_when_an_approver_is_named(harness: Harness) -> None:
    """PERM-1: `claude/channel/permission` is declared only when AGENTBUS_APPROVER names a peer other
    than the session itself; a value that cannot be a name is an error on stderr and a non-zero exit."""
    worker = harness.start("worker", env={"AGENTBUS_APPROVER": " Lead "})
    assert isinstance(_experimental(worker).get(CAPABILITY), dict), (
        f"AGENTBUS_APPROVER=lead but no experimental[{CAPABILITY!r}] object: {worker.server_capabilities}"
    )
    plain = harness.start("plain")
    assert CAPABILITY not in _experimental(plain), f"declared without AGENTBUS_APPROVER: {plain.server_capabilities}"
    own = harness.start("selfish", env={"AGENTBUS_APPROVER": "selfish"})
    assert CAPABILITY not in _experimental(own), "declared with the session itself as its approver"

    bad = harness.session("broken", env={"AGENTBUS_APPROVER": "not a name!"})
    with contextlib.suppress(Exception):
        bad.start(8)
    wait_until(lambda: bad.returncode is not None or None, 5, "the adapter with a bad AGENTBUS_APPROVER to exit")
    assert bad.returncode not in (0, None), f"exit code {bad.returncode} for AGENTBUS_APPROVER='not a name!'"
    assert "AGENTBUS_APPROVER" in bad.stderr, f"stderr does not name the setting: {bad.stderr[-500:]!r}"


@rule("PERM-2")
def test_a_prompt_becomes_one_message_to_the_approver_alone(harness: Harness) -> None:
    """PERM-2: a permission_request becomes one message to the approver alone, naming the id, the
    tool, what it does, its input and how to answer; malformed params are ignored."""
    lead, other = harness.start_many(["lead", "other"])
    worker = harness.start("worker", env=APPROVED_BY_LEAD)
    for params in (
        None,
        {"request_id": "abcde"},
        {**_request("abcde"), "tool_name": 7},
        _request("abcle"),  # 'l' is never in Claude Code's ids
        _request("abc"),
    ):
        worker.notify(REQUEST_METHOD, params)
    worker.send_raw(f'{{"jsonrpc":"2.0","method":"{REQUEST_METHOD}","params":["not","an","object"]}}')
    worker.notify(REQUEST_METHOD, _request("qwert", "rm -rf build"))
    text = _relayed(lead, "qwert")
    for part in ("qwert", "Bash", "Run rm -rf build", '{"command":"rm -rf build"}', "yes qwert", "no qwert"):
        assert part in text, f"the relayed request does not show {part!r}: {text!r}"
    assert "worker" in text, f"the relayed request does not say who asks: {text!r}"
    assert bodies_before_sentinel(worker, lead, "lead") == [], "a malformed request was relayed too"
    assert bodies_before_sentinel(worker, other, "other") == [], "the request reached a peer that is not the approver"
    assert worker.returncode is None, f"the adapter exited after malformed requests: {worker.stderr[-500:]}"


@rule("PERM-3")
def test_the_approvers_answer_becomes_the_verdict(harness: Harness) -> None:
    """PERM-3: the approver's `yes ID` / `no ID` (y/n, any case, blanks around) for an open request
    becomes the verdict notification, is not shown to the model and is stamped delivered."""
    lead = harness.start("lead")
    worker = harness.start("worker", env=APPROVED_BY_LEAD)
    answers = {"abcde": ("yes abcde", "allow"), "fghij": ("  N FGHIJ ", "deny"), "kmnop": ("y kmnop", "allow")}
    for request_id in answers:
        worker.notify(REQUEST_METHOD, _request(request_id))
        _relayed(lead, request_id)
    ids = [int(send(lead, "worker", text).json()["msg_id"]) for text, _behavior in answers.values()]
    shown = bodies_before_sentinel(lead, worker, "worker")
    assert shown == [], f"the approver's answers were shown to the model as messages: {shown}"
    expected = [{"request_id": rid, "behavior": behavior} for rid, (_text, behavior) in answers.items()]
    assert _verdicts(worker) == expected, f"verdicts written: {_verdicts(worker)}, expected {expected}"
    if harness.bus_readable:  # stamped after the batch's writes resolved: a moment after the sentinel

        def undelivered() -> list[int]:
            return [message_id for message_id in ids if harness.db.message(message_id)["delivered_at"] is None]

        wait_until(
            lambda: not undelivered(),
            5,
            "the verdict messages to be stamped delivered",
            describe=lambda: str(undelivered()),
        )


@rule("PERM-4")
def test_nobody_elses_answer_counts(harness: Harness) -> None:
    """PERM-4: the same text from another peer, or the approver's answer to an id not open (or already
    answered), is an ordinary message pushed as a channel event."""
    lead, mallory = harness.start_many(["lead", "mallory"])
    worker = harness.start("worker", env=APPROVED_BY_LEAD)
    worker.notify(REQUEST_METHOD, _request("abcde"))
    _relayed(lead, "abcde")
    send(mallory, "worker", "yes abcde")
    assert bodies_before_sentinel(mallory, worker, "worker") == ["yes abcde"]
    assert _verdicts(worker) == [], f"another peer's answer became a verdict: {_verdicts(worker)}"
    send(lead, "worker", "yes zzzzz")  # never asked
    send(lead, "worker", "no abcde")
    send(lead, "worker", "yes abcde")  # already answered
    send(lead, "worker", "yes abcde please")  # not the whole text
    assert bodies_before_sentinel(lead, worker, "worker") == ["yes zzzzz", "yes abcde", "yes abcde please"]
    assert _verdicts(worker) == [{"request_id": "abcde", "behavior": "deny"}], _verdicts(worker)
