"""Receipts from Gemini CLI's chat record: which messages a hook handed over reached the session's model.

Gemini CLI keeps each session in ``~/.gemini/tmp/<project>/chats/session-<time>-<id>.jsonl`` and
names it to every hook as ``transcript_path``: a metadata line, then one JSON object per message
(``user``, ``gemini``, ``info``, ``warning``; a message written again under its id when it grows)
and ``{"$set": {"messages": [...]}}`` rewrites (checked with 0.61.0, docs/gemini.md). What a hook
handed over shows up as Gemini sent it to the model, the moment it did:

- AfterTool: in the tool call's ``result`` of a ``gemini`` message, the function response's output
  ending in ``<hook_context>...</hook_context>``;
- BeforeAgent: a ``<hook_context>`` part of the ``user`` message of the prompt;
- AfterAgent: a ``user`` message whose text is the hook's reason, opening with the tag;
- SessionStart: a ``user`` message of ``<hook_context>`` parts alone, first in the history: received
  (the model gets it with its first turn), and seen once a ``gemini`` message follows it.

Gemini HTML-escapes a hook's context (``&lt;channel ...&gt;``); the tags are read back unescaped.
Privacy as for Claude Code's transcript: only lines with a tag are parsed, and only the tag's
``msg_id``, ``from`` and ``ts`` are kept.
"""

import html
import json
import re
from collections.abc import Iterator
from typing import Any

from agentbus.endpoint import Sighting

_HOOK_CONTEXT = re.compile(r"<hook_context>(.*?)</hook_context>", re.S)
_TAG_HEAD = re.compile(r"<channel\s([^>]*)>")
_ATTRIBUTE = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="([^"]*)"')


def _tags(text: str) -> Iterator[tuple[int, str, str]]:
    """(msg_id, from, ts) of each agentbus tag in ``text`` (already unescaped)."""
    for head in _TAG_HEAD.finditer(text):
        attributes = dict(_ATTRIBUTE.findall(head.group(1)))
        msg_id, sender, ts = attributes.get("msg_id", ""), attributes.get("from"), attributes.get("ts")
        if attributes.get("source") == "agentbus" and msg_id.isdigit() and sender is not None and ts is not None:
            yield int(msg_id), sender, ts


def _in_hook_context(text: str) -> Iterator[tuple[int, str, str]]:
    for context in _HOOK_CONTEXT.findall(text):
        yield from _tags(html.unescape(context))


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [str(part["text"]) for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)]
    return []


class ChatRecord:
    """Parses the record's lines in order (``__call__``, a TranscriptFollower's ``parse``), remembering
    what a SessionStart put in the history until the model's first turn makes it seen."""

    def __init__(self) -> None:
        self._in_history: dict[int, Sighting] = {}

    def __call__(self, line: bytes) -> list[Sighting]:
        if b"channel" not in line and b'"gemini"' not in line:
            return []
        try:
            record = json.loads(line)
        except ValueError:
            return []
        if not isinstance(record, dict):
            return []
        rewritten = record.get("$set", {}).get("messages") if isinstance(record.get("$set"), dict) else None
        messages = rewritten if isinstance(rewritten, list) else [record]
        found: list[Sighting] = []
        for message in messages:
            if isinstance(message, dict):
                found += self._message(message)
        return found

    def _message(self, message: dict[str, Any]) -> list[Sighting]:
        kind = message.get("type")
        if kind == "user":
            texts = _texts(message.get("content"))
            if texts and all(_HOOK_CONTEXT.fullmatch(text.strip()) for text in texts):
                held = [Sighting(*tag, seen=False) for text in texts for tag in _in_hook_context(text)]
                self._in_history.update({sighting.msg_id: sighting for sighting in held})
                return held
            seen = [tag for text in texts for tag in _in_hook_context(text)]
            seen += [tag for text in texts if text.lstrip().startswith("<channel ") for tag in _tags(text)]
            return [Sighting(*tag, seen=True) for tag in seen]
        if kind != "gemini":
            return []
        found = [Sighting(s.msg_id, s.sender, s.ts, seen=True) for s in self._in_history.values()]
        self._in_history.clear()
        for call in message.get("toolCalls") or []:
            for result in call.get("result") or [] if isinstance(call, dict) else []:
                response = result.get("functionResponse", {}).get("response") if isinstance(result, dict) else None
                output = response.get("output") if isinstance(response, dict) else None
                if isinstance(output, str):
                    found += [Sighting(*tag, seen=True) for tag in _in_hook_context(output)]
        return found
