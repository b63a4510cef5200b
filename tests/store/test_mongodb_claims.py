"""The MongoDB claims under what other processes do that the contract suite cannot stage:

- the outbox claim, when another process acts on a conversation between the moment this claim
  reads the conversation's head and the moment it takes an entry (DESIGN.md: one message at a
  time per conversation, across processes). The other dispatcher is played by a hook in
  `_heads`, which runs just after the heads are read;
- the inbox claim, when a process died in the middle of a turn's transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import uuid4

import pytest
from pymongo import AsyncMongoClient

from store.mongodb import MongoStore
from store.records import OutboxStatus
from tests.store import LEASE, PHONES, inbound, queue, sec
from tests.store.mongo_server import drop_database

SENT, SENDING, QUEUED = OutboxStatus.SENT, OutboxStatus.SENDING, OutboxStatus.QUEUED


class RacedStore(MongoStore):
    """Runs `meanwhile` once, right after a claim read the heads."""

    meanwhile: Callable[[], Awaitable[None]] | None = None

    async def _heads(self, conversations: set[str]) -> dict[str, str | None]:
        heads = await super()._heads(conversations)
        hook, self.meanwhile = self.meanwhile, None
        if hook is not None:
            await hook()
        return heads


@pytest.fixture
async def stores(mongodb_uri: str) -> AsyncIterator[tuple[RacedStore, MongoStore]]:
    database = f"causette_test_{uuid4().hex}"
    try:
        async with (
            RacedStore(mongodb_uri, database=database) as ours,
            MongoStore(mongodb_uri, database=database) as theirs,
        ):
            yield ours, theirs
    finally:
        await drop_database(mongodb_uri, database)


async def test_an_entry_revoked_at_its_deadline_by_another_process_holds_back_the_next(
    stores: tuple[RacedStore, MongoStore],
) -> None:
    ours, theirs = stores
    await queue(ours, ("a1", 0), ("a2", 0))
    (first,) = await ours.claim_outbound("d1", sec(0), LEASE)
    await ours.mark_outbound("a1", SENT, sec(1), route="rcs", deadline_at=sec(60), owner="d1")
    await ours.mark_outbound("a2", QUEUED, sec(1), due_at=sec(60))  # not due before

    async def other_process_revokes_a1() -> None:
        (taken,) = await theirs.claim_outbound("d2", sec(60), LEASE)
        assert taken.key == "a1"

    # Our read sees a1 sent (holding nothing back) and a2 as the head; then d2 takes a1 to
    # revoke it. Sending a2 now would put it beside a1's SMS copy, in either order.
    ours.meanwhile = other_process_revokes_a1
    assert await ours.claim_outbound("d1", sec(60), LEASE) == []
    a1, a2 = await ours.get_outbound("a1"), await ours.get_outbound("a2")
    assert a1 is not None
    assert a2 is not None
    assert (a1.status, a2.status, a2.attempts) == (SENDING, QUEUED, 0)
    # Once d2 is done with a1, a2 goes.
    await theirs.mark_outbound("a1", OutboxStatus.DELIVERED, sec(61), owner="d2")
    assert [e.key for e in await ours.claim_outbound("d1", sec(62), LEASE)] == ["a2"]
    assert first.key == "a1"


async def test_a_head_taken_by_another_process_leaves_the_conversation_to_it(
    stores: tuple[RacedStore, MongoStore],
) -> None:
    ours, theirs = stores
    await queue(ours, ("b1", 0), ("b2", 0))

    async def other_process_sends_b1() -> None:
        (taken,) = await theirs.claim_outbound("d2", sec(0), LEASE)
        await theirs.mark_outbound(taken.key, SENT, sec(0), route="sms", owner="d2")

    # d2 takes and sends b1 after our read: b1's take fails here, and b2 is not taken on the
    # strength of heads read before d2 acted (it is taken by the next claim, in order).
    ours.meanwhile = other_process_sends_b1
    assert await ours.claim_outbound("d1", sec(0), LEASE) == []
    assert [e.key for e in await ours.claim_outbound("d1", sec(1), LEASE)] == ["b2"]


async def test_a_lease_locked_by_a_dead_process_transaction_is_passed_over(
    stores: tuple[RacedStore, MongoStore], mongodb_uri: str
) -> None:
    """A process killed while committing a turn leaves its transaction open on the server,
    holding the conversation's lease document until the server drops it: the workers take the
    other conversations meanwhile, instead of all waiting on that one."""
    store, _ = stores
    stuck, _ = await store.append_inbound(inbound(phone=PHONES[0]))
    free, _ = await store.append_inbound(inbound(phone=PHONES[1]))
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        leases = client[store._database].leases
        async with client.start_session() as dead:
            await dead.start_transaction()
            head = await client[store._database].inbox.find_one({"_id": stuck.seq})
            assert head is not None
            await leases.insert_one({"_id": head["conversation"], "until": sec(0)}, session=dead)
            claim = await store.claim("w1", sec(1), LEASE)
            assert claim is not None
            assert claim.entry.seq == free.seq
            await dead.abort_transaction()
        # Once the server dropped the transaction, the conversation is taken as usual: after
        # w1's leases ran out, since w1's timed-out lease write may still land after the abort
        # (a loaded machine showed it), leaving w1 a lease it never uses.
        claim = await store.claim("w2", sec(2) + LEASE, LEASE)
        assert claim is not None
        assert claim.entry.seq == stuck.seq
    finally:
        await client.close()
