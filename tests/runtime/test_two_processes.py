"""Two worker processes on one MongoDB store (DESIGN.md "How a message flows"): fed
interleaved events for the same conversations, they produce every conversation's replies in
arrival order, none duplicated or lost, and a provider's retry is stored once.

MongoDB is SecantusDB started for this module (or the server `CAUSETTE_TEST_MONGODB_URI`
names); the workers are `tests/runtime/worker_process.py`, on the real clock.
"""

from __future__ import annotations

import asyncio
import re
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from pymongo import AsyncMongoClient

from bots.conversations import inbound_event
from flows.validation import check_text
from messaging.inbound import InboundText
from store.mongodb import MongoStore
from store.records import Direction, InboxEntry, InboxSource, NewInbound, OutboxStatus
from tests.store.mongo_server import running_mongodb

ROOT = Path(__file__).resolve().parents[2]
BOT = "echo"
ECHO = """\
flow: echo
start: listen
vars: {n: 0}
states:
  listen:
    on:
      - keywords: [fin]
        goto: done
    otherwise:
      set: {n: "{{ vars.n + 1 }}"}
      say: "{{ vars.n }}:{{ input.text }}"
  done: {say: Au revoir., end: true}
"""
CONVERSATIONS = 20
MESSAGES = 15
PHONES = [f"+336120000{n:02d}" for n in range(CONVERSATIONS)]
DUPLICATES = {(0, 0), (3, 1), (7, 7), (19, 14)}
"""(conversation, message) pairs delivered a second time by the provider, right after the
first delivery; every message of round 5 is also delivered again after round 10."""
REDELIVERED_ROUND, REDELIVERED_AFTER = 5, 10
WORKERS = ("worker-a", "worker-b")
DEADLINE = 90.0
"""Seconds the whole scenario may take before the test fails (it takes a few)."""


@pytest.fixture(scope="module")
def mongodb_uri() -> Iterator[str]:
    with running_mongodb() as uri:
        yield uri


@pytest.fixture
async def database(mongodb_uri: str) -> AsyncIterator[str]:
    name = f"causette_two_{uuid4().hex}"
    yield name
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        mongodb_uri, serverSelectionTimeoutMS=5000
    )
    try:
        await client.drop_database(name)
    finally:
        await client.close()


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    flow, problems = check_text(ECHO, "echo.yaml")
    assert flow is not None
    assert problems == []
    path = tmp_path / "echo.yaml"
    path.write_text(textwrap.dedent(ECHO), encoding="utf-8")
    return path


@dataclass
class Worker:
    name: str
    process: asyncio.subprocess.Process
    output: asyncio.Task[tuple[bytes, bytes]] | None = None


async def start_worker(name: str, uri: str, database: str, flow: Path) -> Worker:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.runtime.worker_process",
        "--uri",
        uri,
        "--database",
        database,
        "--flow",
        str(flow),
        "--owner",
        name,
        "--expect",
        str(CONVERSATIONS * MESSAGES),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return Worker(name, process)


async def until_ready(worker: Worker) -> None:
    """The worker's first line says its store is open and its flow compiled; from then on,
    its output is read to the end in the background (a full pipe would block it)."""
    assert worker.process.stdout is not None
    line = await worker.process.stdout.readline()
    worker.output = asyncio.create_task(worker.process.communicate())
    if line != b"ready\n":
        out, err = await worker.output
        pytest.fail(f"{worker.name} did not start: {line!r}\n{out.decode()}{err.decode()}")


async def finish(worker: Worker) -> int:
    """Wait for the worker to exit by itself; return the turns it committed."""
    assert worker.output is not None
    out, err = await worker.output
    text = out.decode() + err.decode()
    assert worker.process.returncode == 0, f"{worker.name} exited {worker.process.returncode}"
    found = re.search(r"^turns=(\d+)$", out.decode(), re.MULTILINE)
    assert found is not None, f"{worker.name} printed no turn count:\n{text}"
    return int(found.group(1))


def message(phone: int, index: int) -> NewInbound:
    return NewInbound(
        InboxSource.SMSMODE,
        f"mo-{phone}-{index}",
        BOT,
        PHONES[phone],
        inbound_event(InboundText(text=f"m{index}")),
        datetime.now(UTC),
    )


async def feed(store: MongoStore) -> dict[tuple[int, int], InboxEntry]:
    """Append every message round-robin over the conversations (message 0 of each, then
    message 1 of each...), with the provider's retries; each retry must find the first."""
    stored: dict[tuple[int, int], InboxEntry] = {}
    retries: list[tuple[int, int]] = []
    for index in range(MESSAGES):
        for phone in range(CONVERSATIONS):
            entry, new = await store.append_inbound(message(phone, index))
            assert new, (phone, index)
            stored[phone, index] = entry
            if (phone, index) in DUPLICATES:
                retries.append((phone, index))
        if index == REDELIVERED_AFTER:
            retries.extend((phone, REDELIVERED_ROUND) for phone in range(CONVERSATIONS))
        for key in retries:
            again, new = await store.append_inbound(message(*key))
            assert (again.seq, new) == (stored[key].seq, False), key
        retries.clear()
    return stored


async def test_two_workers_reply_in_arrival_order_none_lost_or_doubled(
    mongodb_uri: str, database: str, flow_file: Path
) -> None:
    workers = [await start_worker(name, mongodb_uri, database, flow_file) for name in WORKERS]
    try:
        async with asyncio.timeout(DEADLINE):
            await asyncio.gather(*(until_ready(worker) for worker in workers))
            async with MongoStore(mongodb_uri, database=database) as store:
                stored = await feed(store)
                turns = [await finish(worker) for worker in workers]
                await check(store, stored)
    finally:
        for worker in workers:
            if worker.process.returncode is None:
                worker.process.kill()
                await worker.process.wait()
            if worker.output is not None:
                await asyncio.gather(worker.output, return_exceptions=True)

    assert sum(turns) == CONVERSATIONS * MESSAGES  # each event's turn committed once
    assert all(count > 0 for count in turns), dict(zip(WORKERS, turns, strict=True))


async def check(store: MongoStore, stored: dict[tuple[int, int], InboxEntry]) -> None:
    assert await store.inbox_depth() == 0
    # One outbox entry per event, all sent: nothing lost, nothing produced twice.
    assert await store.outbox_depth() == {OutboxStatus.SENT: CONVERSATIONS * MESSAGES}
    conversations = {c.phone: c for c in await store.list_conversations(BOT)}
    assert sorted(conversations) == PHONES
    for phone, number in enumerate(PHONES):
        conversation = conversations[number]
        seqs = [stored[phone, index].seq for index in range(MESSAGES)]
        expected = [f"{index + 1}:m{index}" for index in range(MESSAGES)]
        assert conversation.vars["n"] == MESSAGES
        assert conversation.last_inbox_seq == seqs[-1]
        assert conversation.id == f"{BOT}-{seqs[0]}"  # started by its first message

        replies = []
        for seq in seqs:
            entry = await store.get_outbound(f"{seq}:0")
            assert entry is not None, (number, seq)
            assert (entry.conversation_id, entry.phone) == (conversation.id, number)
            assert entry.status is OutboxStatus.SENT
            assert await store.get_outbound(f"{seq}:1") is None
            replies.append(str(entry.content.get("text")))
        # The counter numbers the turns as they were handled, the text names the event: equal
        # lists mean the k-th turn handled the k-th arrival.
        assert replies == expected, number

        transcript = await store.history(conversation.id)
        incoming = [line.key for line in transcript if line.direction is Direction.IN]
        outgoing = [line for line in transcript if line.direction is Direction.OUT]
        assert incoming == [f"in:{seq}" for seq in seqs], number
        assert [line.key for line in outgoing] == [f"out:{seq}:0" for seq in seqs], number
        assert [str(line.body.get("text")) for line in outgoing] == expected, number
