"""The Envelope: one message as it travels from the mailbox to a Delivery port."""

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class Envelope:
    id: int
    sender: str
    recipient: str
    body: str
    created_at: float
    reply_to: int | None = None

    @property
    def ts(self) -> str:
        """created_at as ISO 8601 UTC with millisecond precision, e.g. 2026-11-25T14:00:00.123Z."""
        return iso_utc(self.created_at)

    def meta(self) -> dict[str, str]:
        """The channel meta of this message: string values only, keys that are identifiers."""
        meta = {"from": self.sender, "msg_id": str(self.id), "ts": self.ts}
        if self.reply_to is not None:
            meta["reply_to"] = str(self.reply_to)
        return meta


def iso_utc(epoch_seconds: float) -> str:
    moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
