"""Channel events as Claude Code checks and renders them for the model: a ``<channel ...>`` tag."""

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CHANNEL_METHOD = "notifications/claude/channel"
DEFAULT_SOURCE = "agentbus"

#: Meta keys Claude Code keeps; every other key is dropped (Claude Code only logs a debug warning).
META_KEY_PATTERN = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*", re.ASCII)

#: A closing tag inside content, in any letter case (see ``defuse_content``).
_CLOSE_TAG = re.compile(r"</(channel)", re.IGNORECASE)

_ATTR_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
_ATTR_SPECIALS = re.compile("[&<>\"']")


class InvalidChannelParams(ValueError):
    """Params of a channel notification that Claude Code's schema check would reject."""


@dataclass(frozen=True)
class ValidatedParams:
    """Channel params that passed the check: content, the kept meta, and the keys that were dropped."""

    content: str
    meta: dict[str, str]
    dropped_keys: tuple[str, ...] = field(default_factory=tuple)


def is_valid_meta_key(key: str) -> bool:
    """True if Claude Code keeps this meta key as a tag attribute."""
    return META_KEY_PATTERN.fullmatch(key) is not None


def escape_attribute(value: str) -> str:
    """Escape an attribute value: ``& < > " '`` become ``&amp; &lt; &gt; &quot; &#39;``."""
    return _ATTR_SPECIALS.sub(lambda m: _ATTR_ESCAPES[m.group(0)], value)


def defuse_content(content: str) -> str:
    """Rewrite every ``</channel`` in content to ``<\\/channel`` so a body cannot close the tag early.

    The match ignores letter case (``</CHANNEL`` becomes ``<\\/CHANNEL``, case kept): the notes only
    say "any ``</channel``", and defusing every case variant is the safe reading. An opening
    ``<channel`` is left alone, as Claude Code does.
    """
    return _CLOSE_TAG.sub(r"<\\/\1", content)


def validate_params(params: Any) -> ValidatedParams:
    """Check params as Claude Code does (content: string, meta: record<string, string>, optional).

    Raises InvalidChannelParams naming the offending field; keys failing the meta-key rule are
    not an error, they are returned in ``dropped_keys``, and so is ``source`` (the tag's own).
    """
    if not isinstance(params, Mapping):
        raise InvalidChannelParams(f"params must be an object, got {_kind(params)}")
    if "content" not in params:
        raise InvalidChannelParams("params.content is missing")
    content = params["content"]
    if not isinstance(content, str):
        raise InvalidChannelParams(f"params.content must be a string, got {_kind(content)}")
    meta = params.get("meta")
    if meta is None and "meta" not in params:
        return ValidatedParams(content, {})
    if not isinstance(meta, Mapping):
        raise InvalidChannelParams(f"params.meta must be an object of strings, got {_kind(meta)}")
    bad = {k: v for k, v in meta.items() if not isinstance(v, str)}
    if bad:
        shown = ", ".join(f"{k}={v!r} ({_kind(v)})" for k, v in bad.items())
        raise InvalidChannelParams(f"params.meta values must be strings: non-string meta {shown}")
    kept: dict[str, str] = {}
    dropped: list[str] = []
    for key, value in meta.items():
        if is_valid_meta_key(key) and key != "source":
            kept[key] = value
        else:
            dropped.append(key)
    return ValidatedParams(content, kept, tuple(dropped))


def render_channel(content: str, meta: Mapping[str, str] | None = None, source: str = DEFAULT_SOURCE) -> str:
    """The text the model sees: ``<channel source="..." k="v"...>\\ncontent\\n</channel>``.

    ``source`` comes first, then meta keys in the order given; invalid keys (and a ``source``
    key, which would shadow the server name) are left out. The content sits on lines of its own,
    as Claude Code 2.1.197 and 2.1.331 write it into the transcript (fakeclaude/profiles).
    """
    attrs = [f'source="{escape_attribute(source)}"']
    for key, value in (meta or {}).items():
        if is_valid_meta_key(key) and key != "source":
            attrs.append(f'{key}="{escape_attribute(value)}"')
    return f"<channel {' '.join(attrs)}>\n{defuse_content(content)}\n</channel>"


#: A rendered tag at the start of a text: its attributes, then the body on lines of its own.
_TAG = re.compile(r'<channel((?: [a-zA-Z_][a-zA-Z0-9_]*="[^"<>]*")*)>\n(.*?)\n</channel>', re.S)
_ATTRIBUTE = re.compile(r' ([a-zA-Z_][a-zA-Z0-9_]*)="([^"<>]*)"')
_DEFUSED_CLOSE_TAG = re.compile(r"<\\/(channel)", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedTag:
    """A ``<channel>`` tag read back from text a model is given: ``attributes`` unescaped (``source``
    included), ``content`` the body with the defusing undone, ``tag`` the tag exactly as written, and
    ``rest`` what follows it (the codex adapter's reply hint)."""

    attributes: dict[str, str]
    content: str
    tag: str
    rest: str


def parse_channel_tag(text: str) -> ParsedTag | None:
    """The tag ``render_channel`` writes, read back from the start of ``text`` (None if it is not one).

    The inverse of the rendering: attribute values are unescaped and every ``<\\/channel`` of the
    body becomes ``</channel`` again. A body that itself contained ``<\\/channel`` cannot be told
    apart from a defused ``</channel`` (the model sees the same text either way); it reads back as
    ``</channel``.
    """
    found = _TAG.match(text)
    if found is None:
        return None
    attributes = {key: html.unescape(value) for key, value in _ATTRIBUTE.findall(found.group(1))}
    content = _DEFUSED_CLOSE_TAG.sub(r"</\1", found.group(2))
    return ParsedTag(attributes, content, found.group(0), text[found.end() :])


def render_params(params: Any, source: str = DEFAULT_SOURCE) -> str:
    """Validate raw notification params and render them; raises InvalidChannelParams."""
    checked = validate_params(params)
    return render_channel(checked.content, checked.meta, source)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__
