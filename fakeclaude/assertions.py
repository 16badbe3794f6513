"""What a session found and what tests ask of it: findings, report(), the waits on events, assert_channel."""

import re
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from agentbus.manifest import Manifest
from fakeclaude.appserver import FakeAppServer
from fakeclaude.errors import ChannelTimeout, RequestTimeout
from fakeclaude.gemini_hooks import BOUNDARY_SECONDS, GeminiHooks
from fakeclaude.recorder import Recorder, WireRecord
from fakeclaude.results import ChannelEvent, DroppedEvent, Finding


class SessionChecks:
    """The findings and assertions of a ``Session`` (a base of it; the attributes are the session's).

    Everything here reads under the session's Condition, which the reader thread notifies on every
    line, so a wait wakes as soon as what it waits for (or the adapter's EOF) arrives.
    """

    name: str | None
    manifest: Manifest
    recorder: Recorder
    opening_used: str | None
    channel_events: list[ChannelEvent]
    dropped_events: list[DroppedEvent]
    findings: list[Finding]
    app_server: FakeAppServer | None
    gemini: GeminiHooks | None
    _cond: threading.Condition
    _taken: set[int]
    _stdout_eof: bool

    @property
    def stderr(self) -> str:
        """Everything the adapter wrote to stderr so far."""
        raise NotImplementedError

    def _finding(
        self,
        kind: str,
        detail: str,
        severity: Literal["violation", "warning"] = "violation",
        record: WireRecord | None = None,
    ) -> None:
        with self._cond:
            self.findings.append(Finding(kind, detail, time.monotonic(), severity, record))
            self._cond.notify_all()

    # ----------------------------------------------------------------- findings

    @property
    def violations(self) -> list[Finding]:
        """Findings of severity "violation" (junk on stdout, invalid channel params, stray responses...)."""
        with self._cond:
            return [f for f in self.findings if f.severity == "violation"]

    @property
    def warnings(self) -> list[Finding]:
        """Findings of severity "warning" (dropped meta keys, a successful server/discover...)."""
        with self._cond:
            return [f for f in self.findings if f.severity == "warning"]

    @property
    def junk(self) -> list[WireRecord]:
        """stdout lines that were not JSON-RPC messages."""
        return self.recorder.junk()

    def report(self) -> str:
        """A summary for failure messages: opening, findings, events, dropped events, stderr tail."""
        lines = [f"session {self.name!r} adapter {self.manifest.id!r} opening {self.opening_used}"]
        with self._cond:
            findings = list(self.findings)
            events = list(self.channel_events)
            dropped = list(self.dropped_events)
        lines.append(f"{len(events)} channel event(s), {len(dropped)} dropped, {len(findings)} finding(s)")
        lines += [f"  {f.describe()}" for f in findings]
        lines += [f"  dropped ({d.reason}): {d.record.raw[:200]}" for d in dropped]
        if self.app_server is not None:
            lines.append(self.app_server.describe(last=8))
        tail = self.stderr.strip()[-1500:]
        if tail:
            lines.append("--- adapter stderr (tail) ---")
            lines.append(tail)
        return "\n".join(lines)

    # ----------------------------------------------------------------- channel events

    def wait_for_channel(
        self, predicate: Callable[[ChannelEvent], bool] | None = None, timeout: float = 5.0
    ) -> ChannelEvent:
        """The oldest matching event not yet returned by an earlier wait; waits up to ``timeout``.

        Raises ChannelTimeout listing what did arrive (events, dropped events, findings) when none
        matches in time, or sooner once the adapter has closed its stdout.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.channel_events:
                    if id(event) in self._taken:  # events come from stdio and from the doors' own logs
                        continue
                    if predicate is None or predicate(event):
                        self._taken.add(id(event))
                        return event
                remaining = deadline - time.monotonic()
                if self._stdout_eof or remaining <= 0:
                    break
                if self.gemini is not None:  # a Gemini busy with tool calls reaches a boundary now and then
                    self.gemini.fire("AfterTool")
                    remaining = min(remaining, BOUNDARY_SECONDS)
                self._cond.wait(remaining)
        why = "adapter closed its stdout" if self._stdout_eof else f"none within {timeout:g}s"
        raise ChannelTimeout(f"no matching channel event: {why}\n{self.report()}")

    def clear_channel_events(self) -> None:
        """Forget received and dropped events (the wire log is separate: ``recorder.clear()``)."""
        with self._cond:
            self.channel_events.clear()
            self.dropped_events.clear()
            self._taken.clear()

    def assert_channel(self, content: Any = None, *, within: float = 0.0, **meta: Any) -> ChannelEvent:
        """Return an event (taken or not) with this content and meta, else AssertionError with near misses.

        Values may be strings or compiled regexes (``search``). Python keywords take a trailing
        underscore: ``from_="alice"`` checks ``meta["from"]``. ``within`` waits that long for one.
        """
        wanted = {key[:-1] if key.endswith("_") else key: value for key, value in meta.items()}

        def diffs(event: ChannelEvent) -> list[str]:
            out = []
            if content is not None and not _matches(content, event.content):
                out.append(f"content={event.content[:80]!r} (wanted {_show(content)})")
            for key, value in wanted.items():
                if key not in event.meta:
                    out.append(f"no meta {key!r} (wanted {_show(value)})")
                elif not _matches(value, event.meta[key]):
                    out.append(f"{key}={event.meta[key]!r} (wanted {_show(value)})")
            return out

        deadline = time.monotonic() + within
        with self._cond:
            while True:
                for event in self.channel_events:
                    if not diffs(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stdout_eof:
                    break
                if self.gemini is not None:  # a Gemini busy with tool calls reaches a boundary now and then
                    self.gemini.fire("AfterTool")
                    remaining = min(remaining, BOUNDARY_SECONDS)
                self._cond.wait(remaining)
            events = list(self.channel_events)
            dropped = list(self.dropped_events)
            findings = list(self.findings)
        asked = ", ".join(
            ([f"content={_show(content)}"] if content is not None else [])
            + [f"{k}={_show(v)}" for k, v in wanted.items()]
        )
        lines = [f"no channel event with {asked or 'anything'} in session {self.name!r}"]
        ranked = sorted(events, key=lambda e: len(diffs(e)))
        lines.append(f"near misses ({len(events)} event(s) received):" if events else "no events received")
        lines += [f"  {e.rendered[:200]}\n    differs: {'; '.join(diffs(e))}" for e in ranked[:10]]
        lines += [f"  dropped ({d.reason}): {d.record.raw[:200]}" for d in dropped]
        lines += [f"  {f.describe()}" for f in findings]
        raise AssertionError("\n".join(lines))

    def wait_for_message(
        self,
        method: str | None = None,
        predicate: Callable[[WireRecord], bool] | None = None,
        timeout: float = 5.0,
        direction: Literal["sent", "received"] = "received",
    ) -> WireRecord:
        """The first wire record (in the log) with this method/direction matching ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for record in self.recorder.messages(direction, method):
                    if predicate is None or predicate(record):
                        return record
                remaining = deadline - time.monotonic()
                if self._stdout_eof or remaining <= 0:
                    break
                self._cond.wait(remaining)
        raise RequestTimeout(f"no {direction} message {method or ''} matched\n{self.recorder.dump(last=20)}")


def _matches(wanted: Any, actual: str) -> bool:
    if isinstance(wanted, re.Pattern):
        return wanted.search(actual) is not None
    return bool(wanted == actual)


def _show(value: Any) -> str:
    if isinstance(value, re.Pattern):
        return f"/{value.pattern}/"
    return repr(value)
