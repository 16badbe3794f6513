"""What a session hears from its adapter besides answers: channel notifications (or why they were dropped),
the fake app-server's inputs and the messaging socket's writes, each becoming a ``ChannelEvent``."""

import json
import queue
import threading
from collections.abc import Callable
from typing import Any, Final

from fakeclaude.appserver import TurnInput
from fakeclaude.assertions import SessionChecks
from fakeclaude.gemini_hooks import HookCall
from fakeclaude.native import NativeWrite
from fakeclaude.profiles import Profile
from fakeclaude.recorder import WireRecord
from fakeclaude.rendering import (
    CHANNEL_METHOD,
    InvalidChannelParams,
    parse_channel_tag,
    render_channel,
    validate_params,
)
from fakeclaude.results import ChannelEvent, DroppedEvent
from fakeclaude.transcript import TranscriptWriter

#: How events come from an adapter that pushes through Codex's app-server (SPEC section 8b).
CODEX_DELIVERY: Final = "codex-app-server"
GEMINI_DELIVERY: Final = "gemini-hook"

DROPPED_NO_FLAG = "channels disabled: session runs like Claude Code without --dangerously-load-development-channels"
DROPPED_NO_CAPABILITY = "server did not declare capabilities.experimental['claude/channel']"
DROPPED_EARLY = "arrived before the handshake response, when Claude Code has no channel handler yet"
DROPPED_BY_TEST = "dropped on purpose (drop_events), as Claude Code drops some events; no transcript record"
DROPPED_BY_CODEX = "a channel notification on stdio, which Codex never shows its model (openai/codex#18056)"
DROPPED_BEFORE_HANDLER = (
    "arrived before Claude Code registered its channel handler ({delay_ms} ms after the {after} answer, "
    "profile {profile})"
)


class SessionInbound(SessionChecks):
    """The inbound side of a ``Session`` (a base of it; the attributes are the session's)."""

    profile: Profile
    source: str
    channels: bool
    channel_handler_delay: float
    channel_ready_at: float | None
    via_app_server: bool
    transcript: TranscriptWriter | None
    notifications: list[WireRecord]
    channel_events: list[ChannelEvent]
    dropped_events: list[DroppedEvent]
    drop_events: Callable[[dict[str, Any]], bool] | None
    on_channel: Callable[[ChannelEvent], None] | None
    _cond: threading.Condition
    _handshake_answered: bool
    _initial_list_id: int | str | None
    _tasks: "queue.SimpleQueue[Callable[[], object] | None]"

    @property
    def channel_capable(self) -> bool:
        """Whether the server declared Claude Code's channel capability (the opening's answer)."""
        raise NotImplementedError

    def _on_notification(self, record: WireRecord, message: dict[str, Any]) -> None:
        if message["method"] != CHANNEL_METHOD:
            with self._cond:
                self.notifications.append(record)
            return
        params = message.get("params")
        now = record.at
        reason = None
        if self.via_app_server:
            reason = DROPPED_BY_CODEX
        elif not self.channels:
            reason = DROPPED_NO_FLAG
        elif not self._handshake_answered:
            reason = DROPPED_EARLY
        elif self.channel_ready_at is None or now < self.channel_ready_at:
            after = "tools/list" if self._initial_list_id is not None else "handshake"
            delay_ms = round(self.channel_handler_delay * 1000)
            reason = DROPPED_BEFORE_HANDLER.format(delay_ms=delay_ms, after=after, profile=self.profile.id)
        elif not self.channel_capable:
            reason = DROPPED_NO_CAPABILITY
        elif self.drop_events is not None and isinstance(params, dict) and self.drop_events(params):
            reason = DROPPED_BY_TEST
        if reason is not None:
            with self._cond:
                self.dropped_events.append(DroppedEvent(params, reason, now, record))
                self._cond.notify_all()
            return
        try:
            checked = validate_params(params)
        except InvalidChannelParams as exc:
            self._finding("invalid_channel_params", str(exc), record=record)
            with self._cond:
                self._cond.notify_all()
            return
        if checked.dropped_keys:
            self._finding(
                "dropped_meta_keys",
                f"meta keys Claude Code drops: {', '.join(repr(k) for k in checked.dropped_keys)}",
                severity="warning",
                record=record,
            )
        assert isinstance(params, dict)
        event = ChannelEvent(
            content=checked.content,
            meta=dict(params.get("meta") or {}),
            rendered=render_channel(checked.content, checked.meta, self.source),
            received_at=now,
            dropped_keys=checked.dropped_keys,
            record=record,
        )
        if self.transcript is not None:
            self.transcript.channel_event(event.rendered)
        self._record_event(event)

    def _on_app_server_input(self, taken: TurnInput) -> None:
        """An input the fake app-server accepted (its connection thread): the tag in it is a channel event."""
        parsed = parse_channel_tag(taken.text)
        if parsed is None:
            self._finding(
                "app_server_input_without_tag",
                f"turn/start text is not a <channel> tag: {taken.text[:200]!r}",
                record=taken.record,
            )
            return
        meta = {key: value for key, value in parsed.attributes.items() if key != "source"}
        event = ChannelEvent(parsed.content, meta, parsed.tag, taken.at, (), taken.record, via=CODEX_DELIVERY)
        self._record_event(event)

    def _on_native_write(self, write: NativeWrite) -> None:
        """A text the messaging socket took (its connection thread): the tag in it is a channel event."""
        record = WireRecord(
            write.seq, write.at, "received", "notification", write.raw, json.loads(write.raw), "native door"
        )
        parsed = parse_channel_tag(write.content)
        if parsed is None:
            self._finding(
                "native_write_without_tag",
                f"the messaging socket got a text that is not a <channel> tag: {write.content[:200]!r}",
                record=record,
            )
            return
        meta = {key: value for key, value in parsed.attributes.items() if key != "source"}
        if self.drop_events is not None and self.drop_events({"content": parsed.content, "meta": meta}):
            with self._cond:
                self.dropped_events.append(
                    DroppedEvent({"content": parsed.content, "meta": meta}, DROPPED_BY_TEST, write.at, record)
                )
                self._cond.notify_all()
            return
        if self.transcript is not None:
            origin: dict[str, Any] = {**self.profile.native_origin}
            if write.writer_pid is not None:
                origin["verifiedPeerPid"] = write.writer_pid
            self.transcript.native_write(write.content, self.profile.native_framing(write.content), origin)
        event = ChannelEvent(parsed.content, meta, parsed.tag, write.at, (), record, via="native")
        self._record_event(event)

    def _on_hook_text(self, event_name: str, text: str, at: float, call: HookCall) -> None:
        """What a Gemini hook answered for the model (the hooks' thread): each tag in it is a channel event."""
        raw = json.dumps(call.answer)
        record = WireRecord(0, at, "received", "notification", raw, call.answer, f"Gemini {event_name} hook")
        rest = text
        found = False
        while (start := rest.find("<channel ")) >= 0:
            parsed = parse_channel_tag(rest[start:])
            if parsed is None:
                break
            found = True
            meta = {key: value for key, value in parsed.attributes.items() if key != "source"}
            self._record_event(ChannelEvent(parsed.content, meta, parsed.tag, at, (), record, via=GEMINI_DELIVERY))
            rest = parsed.rest
        if not found:
            self._finding(
                "hook_answer_without_tag",
                f"the {event_name} hook gave the model a text with no <channel> tag: {text[:200]!r}",
                record=record,
            )

    def _record_event(self, event: ChannelEvent) -> None:
        with self._cond:
            self.channel_events.append(event)
            self._cond.notify_all()
        callback = self.on_channel
        if callback is not None:

            def run_callback() -> None:
                try:
                    callback(event)
                except Exception as exc:
                    self._finding("callback_error", f"on_channel raised {type(exc).__name__}: {exc}", "warning")

            self._tasks.put(run_callback)
