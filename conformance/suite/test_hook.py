"""SPEC section 8c: the hook door, mail handed to Gemini CLI at a session's boundaries by the manifest's hook command.

fakeclaude plays Gemini's hook calls for an adapter of the ``hook`` door (``session.gemini``): it runs
the manifest's ``hook_command`` with the event's JSON on stdin, as Gemini CLI 0.61.0 does, and reads
the answer. These tests stop its boundaries of a session at work (``busy = False``: a session idle
at its prompt) and ask for each boundary themselves.
"""

import json
import subprocess
import time

from conformance.checks import send
from conformance.harness import Harness
from conformance.marks import rule
from fakeclaude import Session
from fakeclaude.gemini_hooks import GeminiHooks, HookCall
from fakeclaude.rendering import parse_channel_tag

#: How long one boundary (the hook's start, its question, the adapter's answer) may take on a loaded machine.
BOUNDARY_TIMEOUT = 10.0


def _hooks(session: Session) -> GeminiHooks:
    assert session.gemini is not None, f"session {session.name!r} plays no Gemini hooks"
    return session.gemini


def _idle_at_prompt(session: Session) -> GeminiHooks:
    """The session's hooks, with no boundary of their own from now on (a session idle at its prompt)."""
    hooks = _hooks(session)
    hooks.busy = False
    assert hooks.idle(BOUNDARY_TIMEOUT), "a boundary did not end"
    return hooks


def _boundary(hooks: GeminiHooks, event: str) -> HookCall:
    """Reach one boundary and return its hook call."""
    before = len(hooks.calls)
    hooks.fire(event)
    assert hooks.idle(BOUNDARY_TIMEOUT), f"the {event} hook did not finish within {BOUNDARY_TIMEOUT:g}s"
    assert len(hooks.calls) > before, f"no {event} hook ran"
    return hooks.calls[-1]


def _tags(text: str) -> list[tuple[str, str]]:
    """(msg_id, body) of each channel tag in ``text``, in order."""
    found = []
    while (start := text.find("<channel ")) >= 0:
        parsed = parse_channel_tag(text[start:])
        assert parsed is not None, f"not a channel tag: {text[start : start + 200]!r}"
        found.append((parsed.attributes.get("msg_id", ""), parsed.content))
        text = parsed.rest
    return found


@rule("HOOK-1")
def test_each_boundary_answers_with_the_pending_mail_in_its_events_form(harness: Harness) -> None:
    """HOOK-1: the hook prints one JSON object: ``{}`` without mail, additionalContext for AfterTool,
    BeforeAgent and SessionStart, a deny with the mail as reason for AfterAgent; the text is the pending
    messages, oldest first, each as its channel tag and the reply line."""
    alice, bob = harness.start_many(["alice", "bob"])
    hooks = _idle_at_prompt(bob)
    for event in ("AfterTool", "BeforeAgent", "AfterAgent", "SessionStart"):
        call = _boundary(hooks, event)
        assert call.exit_code == 0, f"the {event} hook exited {call.exit_code}: {call.stderr[-500:]}"
        assert call.answer == {}, f"the {event} hook answered {call.answer} with no mail pending"
    for event in ("AfterTool", "BeforeAgent", "SessionStart"):
        bodies = [f"{event} mail {i}" for i in range(2)]
        for body in bodies:
            send(alice, "bob", body)
        call = _boundary(hooks, event)
        assert call.exit_code == 0, f"{event}: {call}"
        assert call.answer is not None, f"{event}: {call}"
        assert set(call.answer) == {"hookSpecificOutput"}, f"{event} answer: {call.answer}"
        specific = call.answer["hookSpecificOutput"]
        assert specific.get("hookEventName") == event, f"{event} answer: {call.answer}"
        text = specific.get("additionalContext")
        assert isinstance(text, str), f"{event} answer: {call.answer}"
        assert [body for _, body in _tags(text)] == bodies, f"{event} carried {text!r}"
        assert "send_message" in text, f"no reply line in {text!r}"
        assert 'to="alice"' in text, f"no reply line in {text!r}"
    send(alice, "bob", "at the end of the turn")
    call = _boundary(hooks, "AfterAgent")
    assert call.answer is not None, f"AfterAgent: {call}"
    assert call.answer.get("decision") == "deny", f"AfterAgent: {call.answer}"
    assert [body for _, body in _tags(str(call.answer.get("reason")))] == ["at the end of the turn"], call.answer
    assert [e.content for e in bob.channel_events][-1] == "at the end of the turn"


@rule("HOOK-2")
def test_mail_a_hook_could_not_print_is_handed_over_at_the_next_boundary(harness: Harness) -> None:
    """HOOK-2: a message is stamped delivered only once the hook printed it; a hook that fails before
    leaves it pending, and the next boundary hands it over."""
    alice, bob = harness.start_many(["alice", "bob"])
    hooks = _idle_at_prompt(bob)
    send(alice, "bob", "printed nowhere")
    # A hook whose stdout is gone (as when the client killed it) cannot print its answer.
    hook = subprocess.Popen(
        list(harness.manifest.hook_command),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(hooks.env),
        cwd=hooks.cwd,
    )
    assert hook.stdout is not None
    hook.stdout.close()
    _, err = hook.communicate(json.dumps(hooks.payload("AfterTool")).encode(), timeout=BOUNDARY_TIMEOUT)
    assert not bob.channel_events, "the message reached the model through a hook that could not print"
    if harness.bus_readable:
        assert [row["body"] for row in harness.db.pending("bob")] == ["printed nowhere"], (
            f"the message is not pending after a hook that could not print it (hook stderr: {err.decode()[-300:]})"
        )
    call = _boundary(hooks, "AfterTool")
    assert call.answer is not None, call
    assert [event.content for event in bob.channel_events] == ["printed nowhere"], bob.channel_events
    _boundary(hooks, "AfterTool")
    assert len(bob.channel_events) == 1, f"handed over twice: {bob.channel_events}"


@rule("HOOK-3")
def test_a_hook_without_its_adapter_answers_at_once(harness: Harness) -> None:
    """HOOK-3: with no adapter of the session to ask, the hook prints ``{}`` and exits 0 at once."""
    bob = harness.start("bob")
    hooks = _idle_at_prompt(bob)
    env, cwd, payload = dict(hooks.env), hooks.cwd, hooks.payload("AfterTool")
    bob.close()
    started = time.monotonic()
    done = subprocess.run(
        list(harness.manifest.hook_command),
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=BOUNDARY_TIMEOUT,
        check=False,
    )
    took = time.monotonic() - started
    assert done.returncode == 0, f"the hook exited {done.returncode}: {done.stderr[-500:]}"
    assert json.loads(done.stdout) == {}, f"the hook printed {done.stdout!r}"
    assert took < 2.0, f"the hook took {took:.2f}s with no adapter to ask"
