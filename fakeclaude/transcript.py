"""The session transcript a fake Claude Code writes, in the real client's format, for receipts.

Claude Code appends every session record to ``<config>/projects/<project key>/<session id>.jsonl``.
For a channel event it writes, at once, ``{"type": "queue-operation", "operation": "enqueue",
"content": <the tag>}``; when the model gets it (at once when idle, when the turn ends when busy) a
dequeue record and a ``{"type": "user", "message": {"role": "user", "content": <the tag>}}`` record
(shapes read from 2.1.197 and 2.1.331 transcripts). A native write (the messaging socket, 2.1.224+)
is enqueued as written, and shown to the model inside Claude Code's framing with the origin
``{"kind": "peer", "from": "unknown", "verifiedPeerPid": ..., "selfSent": ...}`` (2.1.337). Adapters
that give receipts read these lines.
"""

import json
import os
import random
import re
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def project_key(project_dir: str) -> str:
    """The directory name Claude Code uses for a project: every non-alphanumeric character becomes '-'."""
    return re.sub(r"[^A-Za-z0-9]", "-", project_dir)


def transcript_path(config_dir: Path, project_dir: str, session_id: str) -> Path:
    return config_dir / "projects" / project_key(project_dir) / f"{session_id}.jsonl"


def _now() -> str:
    moment = datetime.now(tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class TranscriptWriter:
    """Appends records as Claude Code does; ``busy`` holds user records until ``end_turn``."""

    def __init__(self, path: Path, session_id: str, project_dir: str, source: str) -> None:
        self.path = path
        self.session_id = session_id
        self.project_dir = project_dir
        self.source = source
        self.busy = False
        #: What waits for the end of the turn: (the text the model will be shown, the record's origin).
        self._held: list[tuple[str, dict[str, Any]]] = []
        self._parent: str | None = None
        self._lock = threading.Lock()
        # The file stays open between records, and record ids are drawn without a system call: one
        # harness process may write the transcripts of 50 sessions, and opening the file for every
        # event cost more CPU there than all the rest of handling it.
        self._fd: int | None = None
        self._ids = random.Random()  # noqa: S311 - record ids of a fake transcript, no secret

    def _append(self, records: list[dict[str, Any]]) -> None:
        data = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records).encode()
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        view = memoryview(data)
        while view:  # one write() is one append (one change the adapter sees) unless the disk is full
            view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        """Close the file (the session ended); a later record opens it again."""
        with self._lock:
            fd, self._fd = self._fd, None
            if fd is not None:
                os.close(fd)

    def prompt(self, text: str) -> None:
        """A prompt the user typed: a user record of origin ``human`` (as 2.1.337 writes it)."""
        with self._lock:
            record = self._user(text)
            record.update(origin={"kind": "human"}, promptSource="typed")
            self._append([record])

    def channel_event(self, rendered: str) -> bool:
        """An accepted channel event: enqueued now, shown to the model now unless busy. True if shown."""
        return self._input(rendered, rendered, {"kind": "channel", "server": self.source})

    def native_write(self, written: str, shown: str, origin: dict[str, Any]) -> bool:
        """A write to the messaging socket: ``written`` enqueued now, ``shown`` (framed) to the model now
        unless busy, in a record of ``origin``. True if shown."""
        return self._input(written, shown, origin)

    def _input(self, written: str, shown: str, origin: dict[str, Any]) -> bool:
        with self._lock:
            enqueue = {
                "type": "queue-operation",
                "operation": "enqueue",
                "timestamp": _now(),
                "sessionId": self.session_id,
                "content": written,
            }
            if self.busy:
                self._append([enqueue])
                self._held.append((shown, origin))
                return False
            self._append([enqueue, self._dequeue(), self._user(shown, origin=origin)])
            return True

    def begin_turn(self) -> None:
        """The model is busy: channel events wait in the queue until ``end_turn``."""
        with self._lock:
            self.busy = True

    def end_turn(self) -> list[str]:
        """The turn ends: every held input reaches the model (dequeue + user record each). Returns what
        the model was shown."""
        with self._lock:
            held, self._held, self.busy = self._held, [], False
            records: list[dict[str, Any]] = []
            for shown, origin in held:
                records += [self._dequeue(), self._user(shown, origin=origin)]
            if records:
                self._append(records)
            return [shown for shown, _ in held]

    def _dequeue(self) -> dict[str, Any]:
        return {"type": "queue-operation", "operation": "dequeue", "timestamp": _now(), "sessionId": self.session_id}

    def _user(self, content: str, *, origin: dict[str, Any] | None = None) -> dict[str, Any]:
        record_id = str(uuid.UUID(int=self._ids.getrandbits(128), version=4))
        record: dict[str, Any] = {
            "parentUuid": self._parent,
            "isSidechain": False,
            "type": "user",
            "message": {"role": "user", "content": content},
            "uuid": record_id,
            "timestamp": _now(),
            "sessionId": self.session_id,
            "cwd": self.project_dir,
        }
        if origin is not None:
            record["isMeta"] = True
            record["origin"] = origin
        self._parent = record_id
        return record
