"""Group commit: several sends in one transaction, each refused or accepted on its own, order kept."""

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator

import anyio
import pytest

from agentbus.core import Bus, Outgoing, RateLimited, SelfSend, SendReceipt, UnknownMessage
from agentbus.core.config import Backend
from agentbus.core.errors import BodyTooLarge, InvalidBody, InvalidName
from agentbus.core.writelock import WRITE_LOCK_FILE
from agentbus.endpoint import Endpoint
from agentbus.triggers import PollTrigger


def test_each_send_of_a_batch_succeeds_or_fails_on_its_own(bus: Bus) -> None:
    bus.register("bob", session_id="b", adapter="test")
    outcomes = bus.send_many(
        "alice",
        [
            Outgoing("bob", "one"),
            Outgoing("alice", "to myself"),
            Outgoing("bob", "x" * (bus.settings.max_body + 1)),
            Outgoing("Not A Name", "hi"),
            Outgoing("bob", "a\x00b"),
            Outgoing("bob", "answer", reply_to=999),
            Outgoing("carol", "queued for later"),
            Outgoing("bob", "two"),
        ],
    )
    kinds = [type(outcome) for outcome in outcomes]
    assert kinds == [
        SendReceipt,
        SelfSend,
        BodyTooLarge,
        InvalidName,
        InvalidBody,
        UnknownMessage,
        SendReceipt,
        SendReceipt,
    ]
    first, offline, last = (o for o in outcomes if isinstance(o, SendReceipt))
    assert first.ids[0] < offline.ids[0] < last.ids[0]  # ids follow the order of the batch
    assert offline.queued_offline == ("carol",)
    assert first.queued_offline == ()
    assert [e.body for e in bus.pending("bob")] == ["one", "two"]
    assert [e.body for e in bus.pending("carol")] == ["queued for later"]


def test_a_reply_may_answer_a_message_sent_earlier_in_the_same_batch(bus: Bus) -> None:
    (question,) = bus.send("bob", "alice", "question?").ids
    outcomes = bus.send_many("alice", [Outgoing("bob", "answer", reply_to=question), Outgoing("bob", "more")])
    assert all(isinstance(o, SendReceipt) for o in outcomes), outcomes
    assert [e.reply_to for e in bus.pending("bob")] == [question, None]


def test_the_rate_limit_counts_the_sends_of_the_batch(make_bus: Callable[..., Bus]) -> None:
    bus = make_bus(rate_limit_per_minute=3)
    bus.send("chatty", "bob", "earlier")
    outcomes = bus.send_many("chatty", [Outgoing("bob", f"m{i}") for i in range(4)])
    assert [type(o) for o in outcomes] == [SendReceipt, SendReceipt, RateLimited, RateLimited]
    assert "'chatty' sent 3 messages in the last minute; the limit is 3" in str(outcomes[2])
    assert len(bus.pending("bob")) == 3


def test_a_broadcast_in_a_batch_reaches_every_other_live_peer(bus: Bus) -> None:
    for name in ("alice", "bob", "carol"):
        bus.register(name, session_id=name, adapter="test")
    direct, everyone = bus.send_many("alice", [Outgoing("bob", "just bob"), Outgoing("*", "all")])
    assert isinstance(direct, SendReceipt)
    assert isinstance(everyone, SendReceipt)
    assert everyone.recipients == ("bob", "carol")
    assert len(everyone.ids) == 2
    assert [e.body for e in bus.pending("bob")] == ["just bob", "all"]


@pytest.mark.timeout(60)
def test_concurrent_endpoint_sends_share_transactions_and_keep_their_order(bus: Bus) -> None:
    """Sends handed to the writer while a transaction is under way (here: while another process's
    turn holds the write lock) are committed together, each accepted or refused on its own, in order."""
    driver = bus.writer.driver
    commits: list[int] = []
    commit = driver.commit

    def counted_commit() -> None:
        commits.append(1)
        commit()

    driver.commit = counted_commit  # type: ignore[method-assign]
    endpoint = Endpoint(bus, "alice", adapter="test", trigger=PollTrigger(60.0))
    count = 200
    outcomes: dict[int, SendReceipt | Exception] = {}

    async def send(index: int) -> None:
        to = "alice" if index == count // 2 else "bob"  # one refused send amid the burst
        try:
            outcomes[index] = await endpoint.send(to, f"m{index}")
        except Exception as exc:
            outcomes[index] = exc

    async def burst() -> None:
        async with endpoint.running():
            commits.clear()
            async with anyio.create_task_group() as tasks:
                with _held_write_lock(bus):
                    for index in range(count):
                        tasks.start_soon(send, index)
                    await anyio.wait_all_tasks_blocked()  # every send handed over, waiting for the lock

    anyio.run(burst)
    assert isinstance(outcomes.pop(count // 2), SelfSend)
    receipts = [outcomes[i] for i in sorted(outcomes)]
    assert all(isinstance(r, SendReceipt) for r in receipts), receipts
    ids = [r.ids[0] for r in receipts]  # type: ignore[union-attr]
    assert ids == sorted(ids), "ids follow the order the sends were made in"
    assert [e.body for e in bus.pending("bob")] == [f"m{i}" for i in sorted(outcomes)]
    assert 1 <= len(commits) <= 3, f"{len(commits)} commits for {count} concurrent sends"


@contextlib.contextmanager
def _held_write_lock(bus: Bus) -> Iterator[None]:
    """Another turn holds the SQLite bus's write lock until the block ends (PostgreSQL: nothing to hold;
    its writer's thread runs the transactions, so sends queue behind the one under way anyway)."""
    if bus.settings.backend is not Backend.SQLITE:
        yield
        return
    fd = os.open(bus.settings.db_path.with_name(WRITE_LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
