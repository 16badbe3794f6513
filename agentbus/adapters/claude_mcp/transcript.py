"""Receipts from Claude Code's session transcript: which pushed events its model received and saw.

Claude Code writes every session to ``<config>/projects/<project key>/<session id>.jsonl`` (config:
CLAUDE_CONFIG_DIR, else ~/.claude; key: CLAUDE_PROJECT_DIR with every character that is not a
letter or digit replaced by '-'), one JSON object per line. A channel event it accepted shows up
at once as ``{"type": "queue-operation", "operation": "enqueue", "content": "<channel ...>"}``, and
the moment the model gets it (at once when idle, at the end of a busy turn) as ``{"type": "user",
"message": {"content": "<channel ...>"}}`` (both seen with 2.1.197 and 2.1.331).

Privacy: this file holds the user's whole conversation. The follower opens only this session's
file, skips every line without a ``<channel`` tag before parsing it, keeps only the tag's
``msg_id``, ``from`` and ``ts`` attributes, and stores or logs nothing else (SECURITY.md).
"""

import html
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from agentbus.endpoint import Sighting

log = logging.getLogger(__name__)

_TAG_HEAD = re.compile(r"<channel\s([^>]*)>")
_ATTRIBUTE = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="([^"]*)"')
_SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
READ_CHUNK = 1 << 16
#: Longer project keys get a hashed directory name (seen with 2.1.331): receipts are off there.
PROJECT_KEY_LIMIT = 200


@dataclass(frozen=True)
class Location:
    """Where this session's transcript is, or why there is none (``path`` None: no receipts)."""

    path: Path | None
    reason: str


def locate(env: Mapping[str, str], parent: int | None = None) -> Location:
    """The transcript of the Claude Code session that started this adapter. The session is the one
    Claude Code's ``sessions/<pid>.json`` names now (``parent``: its pid, default ours), which a
    ``/clear`` changes while the adapter runs on; else the ``CLAUDE_CODE_SESSION_ID`` it started with."""
    session = current_session(env, os.getppid() if parent is None else parent) or env.get("CLAUDE_CODE_SESSION_ID", "")
    project = env.get("CLAUDE_PROJECT_DIR", "")
    if not session:
        return Location(None, "the client set no CLAUDE_CODE_SESSION_ID (not a Claude Code session)")
    if not _SESSION_ID.fullmatch(session):
        return Location(None, f"CLAUDE_CODE_SESSION_ID {session[:40]!r} is not a session id")
    if not project:
        return Location(None, "the client set no CLAUDE_PROJECT_DIR")
    key = re.sub(r"[^A-Za-z0-9]", "-", project)
    if len(key) > PROJECT_KEY_LIMIT:
        return Location(
            None, f"Claude Code hashes the transcript directory of a project path over {PROJECT_KEY_LIMIT} characters"
        )
    path = _config_dir(env) / "projects" / key / f"{session}.jsonl"
    return Location(path, f"Claude Code's transcript {path}")


def _config_dir(env: Mapping[str, str]) -> Path:
    config = env.get("CLAUDE_CONFIG_DIR") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".claude")
    return Path(config).expanduser()


def current_session(env: Mapping[str, str], pid: int) -> str | None:
    """The session id Claude Code process ``pid`` keeps in ``<config>/sessions/<pid>.json`` (2.1.197 and
    later write it; ``/clear`` gives the session a new id there), or None."""
    try:
        record = json.loads((_config_dir(env) / "sessions" / f"{pid}.json").read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("pid") != pid:
        return None
    session = record.get("sessionId")
    return session if isinstance(session, str) and _SESSION_ID.fullmatch(session) else None


def sightings_in(line: bytes) -> list[Sighting]:
    """The events of ours one transcript line shows: enqueued (received) or shown to the model (seen).

    Received is also Claude Code's note that it holds a native write for the user to review. Seen is a
    ``user`` record, or mid-turn a ``queued_command`` attachment, from a channel event or
    from the native door (``origin.kind`` "peer" from "unknown": written to this session's messaging
    socket by a process that is not another Claude session, with this session's token; Claude Code
    gives that token only to the servers it starts). Claude Code frames a native message with a
    line of its own ("Another Claude session sent a message:"); the tag opens the text after it.
    """
    if b"<channel" not in line:
        return []
    try:
        record = json.loads(line)
    except ValueError:
        return []  # a line being written, or not JSON: nothing of ours
    if not isinstance(record, dict):
        return []
    kind = record.get("type")
    if kind == "queue-operation" and record.get("operation") == "enqueue":
        return list(_tags(record.get("content"), seen=False))
    if kind == "user":
        framed = _ours(record.get("origin"), default=True)
        if framed is None:
            return []  # a prompt the user typed (or pasted a tag into) is not one of our events
        message = record.get("message")
        return list(_tags(message.get("content") if isinstance(message, dict) else None, seen=True, framed=framed))
    if kind == "system" and record.get("subtype") == "informational":
        return list(_held(record.get("content")))
    if kind == "attachment":
        attachment = record.get("attachment")
        if not isinstance(attachment, dict) or attachment.get("type") != "queued_command":
            return []
        if _ours(attachment.get("origin"), default=False) is None:
            return []
        return list(_tags(attachment.get("prompt"), seen=True))
    return []


#: Claude Code's note on a native write it holds for the user to review (setting ``crossSessionInbound``
#: "hold"), with a preview of the text's first line, quotes dropped: the tag's attributes are in it.
_HELD = re.compile(r"^Held peer message .*?«<channel source=agentbus ([^»>]*)>")
_BARE_ATTRIBUTE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)")


def _held(content: object) -> Iterator[Sighting]:
    """A held native write is received: Claude Code has it and shows it once the user lets it through
    (2.1.337 writes ``Held peer message — ...; preview: «<channel source=agentbus from=alice msg_id=1
    ts=...>» ...`` each time it holds one). Pushing it again would only hold another copy."""
    found = _HELD.match(content) if isinstance(content, str) else None
    if found is None:
        return
    attributes = dict(_BARE_ATTRIBUTE.findall(found.group(1)))
    msg_id, sender, ts = attributes.get("msg_id", ""), attributes.get("from"), attributes.get("ts")
    if msg_id.isdigit() and sender is not None and ts is not None:
        yield Sighting(int(msg_id), sender, ts, seen=False)


def _ours(origin: object, *, default: bool) -> bool | None:
    """Whether a record's origin is one of our doors: False for a channel event, True for a native
    write (its text may be framed), None for anything else (a prompt, another Claude session's
    message). A record without an origin counts as a channel event only where ``default`` says so
    (older builds wrote none)."""
    if not isinstance(origin, dict):
        return False if default else None
    if origin.get("kind") == "channel":
        return False
    if origin.get("kind") == "peer" and origin.get("from") == "unknown":
        return True
    return None


def _tags(content: object, *, seen: bool, framed: bool = False) -> Iterator[Sighting]:
    """The tag a record of ours consists of: the text must open with it (a quoted tag does not count),
    or, in a ``framed`` text, the text after its first line."""
    texts: list[str] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        texts += [str(b.get("text")) for b in content if isinstance(b, dict) and b.get("type") == "text"]
    for text in texts:
        head = _TAG_HEAD.match(text.lstrip())
        if head is None and framed:
            head = _TAG_HEAD.match(text.partition("\n")[2])
        if head is not None:
            attributes = {key: html.unescape(value) for key, value in _ATTRIBUTE.findall(head.group(1))}
            msg_id, sender, ts = attributes.get("msg_id", ""), attributes.get("from"), attributes.get("ts")
            if msg_id.isdigit() and sender is not None and ts is not None:
                yield Sighting(int(msg_id), sender, ts, seen)


class TranscriptFollower:
    """Reads the transcript as it grows and hands each batch of sightings to ``on_sightings``.

    The file is watched once it exists (until Claude Code creates it on the session's first record,
    the nearest directory on its way); ``check()`` reads whatever is new, and is also what the
    adapter's safety poll calls, in case an event was missed. Started inside the adapter's event loop,
    a change arrives on the loop thread and is read there (what was appended since the last read:
    a few lines), and ``on_sightings`` is called there (the endpoint's ``confirm_now`` stamps at once
    or hands the stamp to a worker thread); started elsewhere, both run on the watch's own thread
    (path_watch.py).
    """

    def __init__(
        self,
        path: Path,
        on_sightings: Callable[[list[Sighting]], None],
        parse: Callable[[bytes], list[Sighting]] = sightings_in,
    ) -> None:
        self.path = path
        self.on_sightings = on_sightings
        #: What one line of the record shows (Claude Code's transcript by default; Gemini's chat record).
        self.parse = parse
        self._offset = 0
        self._partial = b""
        #: The transcript stays open between reads (one read per change is a pread, not an open,
        #: fstat, seek, reads and close); ``_identity`` is the (device, inode) it was opened as.
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._watched: Path | None = None
        self._watched_file: tuple[int, int] | None = None
        self._stop_watch: Callable[[], None] | None = None
        #: How many times the file was read (each change seen or safety poll that found it).
        self.reads = 0

    def start(self) -> None:
        """Read what the transcript already holds (a restarted adapter), then follow it."""
        self.check()
        self.follow()

    def follow(self) -> None:
        """Watch for what is written next (call it on the loop thread to be told there)."""
        self._watch_nearest()

    def retarget(self, path: Path) -> None:
        """Follow another file from its start (the session's new transcript after a ``/clear``)."""
        with self._lock:
            self.path = path
            self._close_file()
        self._watched = None
        self._watch_nearest()
        self._check_quietly()

    def close(self) -> None:
        """Stop following and close the transcript."""
        self._stop_watching()
        with self._lock:
            self._close_file()

    def _stop_watching(self) -> None:
        stop, self._stop_watch = self._stop_watch, None
        if stop is not None:
            stop()

    def _watch_nearest(self) -> None:
        from agentbus.triggers.path_watch import Change, watch

        while True:
            target = self._nearest()
            if target == self._watched:
                return
            change = Change.GROWN if target == self.path else Change.ENTRIES
            self._stop_watching()
            self._stop_watch = watch(target, change, self._on_change)
            self._watched = target
            self._watched_file = self._file_identity() if target == self.path else None
            # A directory or the file created before this watch began sent no event: look again.

    def _nearest(self) -> Path:
        """The file itself once it exists (so other sessions' transcripts in the same project
        directory do not wake this follower), else the nearest directory on its way."""
        if self.path.is_file():
            return self.path
        target = self.path.parent
        while not target.is_dir() and target != target.parent:
            target = target.parent
        return target

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return info.st_dev, info.st_ino

    def _on_change(self) -> None:
        try:
            if self._watched != self.path or self._file_identity() != self._watched_file:
                self._watched = None  # the file appeared, or was replaced or removed: watch anew
                self._watch_nearest()
        except OSError:  # the safety poll reads again
            log.warning("could not follow the transcript", exc_info=True)
        self._check_quietly()

    def _check_quietly(self) -> None:
        try:
            self.check()
        except Exception:  # the watch must live on; the safety poll reads again
            log.warning("could not read the transcript", exc_info=True)

    def check(self) -> None:
        """Read the lines appended since the last read (from the start if the file was replaced)."""
        with self._lock:
            self.reads += 1
            found: list[Sighting] = []
            for line in self._new_lines():
                found += self.parse(line)
        if found:
            self.on_sightings(found)

    def _new_lines(self) -> Iterator[bytes]:
        """Complete lines appended since the last read, a chunk at a time (a long transcript is not
        held in memory whole); a line still being written waits in ``_partial``."""
        try:
            size = self._open_current()
        except OSError:
            self._close_file()  # removed: do not hold on to it
            return
        assert self._fd is not None
        while self._offset < size and (chunk := os.pread(self._fd, min(READ_CHUNK, size - self._offset), self._offset)):
            self._offset += len(chunk)
            *lines, self._partial = (self._partial + chunk).split(b"\n")
            yield from lines

    def _open_current(self) -> int:
        """The transcript's size now; opened anew (read from its start) if it is new, was replaced or shrank."""
        info = os.stat(self.path)
        if self._fd is not None and (info.st_dev, info.st_ino) == self._identity and info.st_size >= self._offset:
            return info.st_size
        self._close_file()
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        info = os.fstat(fd)
        self._fd, self._identity, self._offset, self._partial = fd, (info.st_dev, info.st_ino), 0, b""
        return info.st_size

    def _close_file(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
