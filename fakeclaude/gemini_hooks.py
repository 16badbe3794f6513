"""Gemini CLI's hook calls, played for an adapter with the hook door: the boundaries where its mail reaches the model.

Gemini CLI runs each configured hook command through its shell with the event's JSON on stdin
(``session_id``, ``transcript_path``, ``cwd``, ``hook_event_name``, ``timestamp`` and the event's own
fields) and reads one JSON object from the command's stdout after it exits. ``GeminiHooks`` does the
same with the manifest's ``hook_command``, one call at a time on its own thread (Gemini waits for a
hook before it goes on), as a child of the test process: the adapter is that process's child too,
as Gemini's MCP servers and hooks are children of one Gemini process.

A boundary is asked for with ``fire(event)``; a request for an event already waiting to run is
dropped (the adapter hands everything pending at one boundary). While ``busy`` (the default: the
kit's sessions play a model at work) an AfterTool boundary comes every BUSY_BOUNDARY_SECONDS on its
own; ``busy = False`` plays a session idle at its prompt, which reaches no boundary unless asked.
What the answer carries for the model (``hookSpecificOutput.additionalContext``, or the ``reason``
of an AfterAgent ``deny``) goes to ``on_text`` with the time the hook exited. Recorded from Gemini
CLI 0.61.0 (docs/gemini.md).
"""

import json
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: Gemini's default hook timeout (60 s) is longer than any test: a hook that has not exited by then failed.
HOOK_TIMEOUT_SECONDS = 15.0
#: While a test waits for a push to a hook-door session, the fake Gemini reaches a boundary this often
#: (a session busy with tool calls; an idle Gemini reaches none).
BOUNDARY_SECONDS = 0.1
#: And this often at any time while the session is ``busy``: a model working through tool calls.
BUSY_BOUNDARY_SECONDS = 0.25
#: The events the agentbus hook answers, and what ``fire`` may be asked.
EVENTS = ("SessionStart", "BeforeAgent", "AfterTool", "AfterAgent")


@dataclass
class HookCall:
    """One hook run: its event, when it started (monotonic), how long it took, and what it printed."""

    event: str
    started: float
    seconds: float
    answer: dict[str, Any] | None
    stderr: str
    exit_code: int | None


def carried_text(event: str, answer: Mapping[str, Any]) -> str | None:
    """What an answer to ``event`` gives the model, as Gemini CLI 0.61.0 reads it (None: nothing)."""
    if event == "AfterAgent":
        if answer.get("decision") in ("deny", "block") and isinstance(answer.get("reason"), str):
            return str(answer["reason"])
        return None
    specific = answer.get("hookSpecificOutput")
    context = specific.get("additionalContext") if isinstance(specific, dict) else None
    return context if isinstance(context, str) and context else None


@dataclass
class GeminiHooks:
    """Runs ``command`` for each boundary asked for, in order, on one thread."""

    command: Sequence[str]
    env: Mapping[str, str]
    cwd: Path | None
    on_text: Callable[[str, str, float, HookCall], None]
    session_id: str = "fakegemini-session"
    transcript_path: str = ""
    calls: list[HookCall] = field(default_factory=list)
    busy: bool = True

    def __post_init__(self) -> None:
        self._queue: list[str] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="fakegemini-hooks", daemon=True)
        self._thread.start()

    def fire(self, event: str) -> None:
        """Ask for a boundary; one already waiting for the same event covers this one."""
        if event not in EVENTS:
            raise ValueError(f"Gemini boundary events are {', '.join(EVENTS)}, not {event!r}")
        with self._cond:
            if not self._closed and event not in self._queue:
                self._queue.append(event)
                self._cond.notify_all()

    def idle(self, timeout: float = 10.0) -> bool:
        """Wait until no hook runs or waits; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._cond.notify_all()
        self._thread.join(timeout=HOOK_TIMEOUT_SECONDS + 1)

    _busy: bool = False

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._queue and not self._closed:
                    self._cond.wait(BUSY_BOUNDARY_SECONDS)
                if self._closed:
                    return
                if not self._queue:
                    if not self.busy:
                        continue
                    self._queue.append("AfterTool")
                event = self._queue.pop(0)
                self._busy = True
            try:
                self._call(event)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def payload(self, event: str) -> dict[str, Any]:
        """The stdin of a hook for ``event``, with the fields Gemini CLI 0.61.0 sends."""
        base: dict[str, Any] = {
            "session_id": self.session_id,
            "transcript_path": self.transcript_path,
            "cwd": str(self.cwd or Path.cwd()),
            "hook_event_name": event,
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        if event == "AfterTool":
            base.update(tool_name="run_shell_command", tool_input={"command": "true"}, tool_response={})
        elif event == "BeforeAgent":
            base.update(prompt="go on")
        elif event == "AfterAgent":
            base.update(prompt="go on", prompt_response="done", stop_hook_active=False)
        elif event == "SessionStart":
            base.update(source="startup")
        return base

    def _call(self, event: str) -> None:
        started = time.monotonic()
        try:
            done = subprocess.run(
                list(self.command),
                input=json.dumps(self.payload(event)),
                capture_output=True,
                text=True,
                env=dict(self.env),
                cwd=self.cwd,
                timeout=HOOK_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.calls.append(HookCall(event, started, time.monotonic() - started, None, str(exc), None))
            return
        ended = time.monotonic()
        try:
            answer = json.loads(done.stdout) if done.stdout.strip() else {}
        except ValueError:
            answer = None
        call = HookCall(
            event, started, ended - started, answer if isinstance(answer, dict) else None, done.stderr, done.returncode
        )
        self.calls.append(call)
        text = carried_text(event, call.answer) if call.answer is not None and done.returncode == 0 else None
        if text is not None:
            self.on_text(event, text, ended, call)
