"""Two worker processes on one MongoDB store (DESIGN.md "How a message flows"): fed
interleaved events for the same conversations, they produce every conversation's replies in
arrival order, none duplicated or lost, and a provider's retry is stored once.

MongoDB is SecantusDB started for this module (or the server `CAUSETTE_TEST_MONGODB_URI`
names); the workers are `tests/runtime/worker_process.py`, on the real clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from bots.conversations import outbox_key
from flows.validation import check_text
from messaging.inbound import InboundText
from store.events import inbound_event
from store.mongodb import MongoStore
from store.records import Direction, InboxEntry, InboxSource, NewInbound, OutboxStatus
from tests.runtime.serve_harness import BOT, ECHO
from tests.store.mongo_server import drop_database

ROOT = Path(__file__).resolve().parents[2]
CONVERSATIONS = 16
MESSAGES = 12
PHONES = [f"+336120000{n:02d}" for n in range(CONVERSATIONS)]
DUPLICATES = {(0, 0), (3, 1), (7, 7), (15, 11)}
"""(conversation, message) pairs delivered a second time by the provider, right after the
first delivery; every message of round 4 is also delivered again after round 8."""
REDELIVERED_ROUND, REDELIVERED_AFTER = 4, 8
BACKLOG = 4 * CONVERSATIONS
"""The workers start their loops once the first 4 rounds are stored: each conversation then
has 4 events queued (they would handle each event as it comes otherwise, and the order of a
queue would go untested); the other rounds arrive while they work."""
WORKERS = ("worker-a", "worker-b")
DEADLINE = 90.0
"""Seconds the whole scenario may take before the test fails (it takes a few)."""


@pytest.fixture
async def database(mongodb_uri: str) -> AsyncIterator[str]:
    name = f"causette_two_{uuid4().hex}"
    yield name
    await drop_database(mongodb_uri, name)


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    flow, problems = check_text(ECHO, "echo.yaml")
    assert flow is not None
    assert problems == []
    path = tmp_path / "echo.yaml"
    path.write_text(ECHO, encoding="utf-8")
    return path


@dataclass
class Worker:
    name: str
    process: asyncio.subprocess.Process
    output: asyncio.Future[tuple[bytes, bytes]] | None = None
    """The rest of its stdout and its stderr, read in the background (a full pipe would
    block it) once it said it was ready."""


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
        "--backlog",
        str(BACKLOG),
        "--fed-at-eof",
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return Worker(name, process)


async def until_ready(worker: Worker) -> None:
    """The worker's first line says its store is open and its flow compiled."""
    process = worker.process
    assert process.stdout is not None
    assert process.stderr is not None
    line = await process.stdout.readline()
    worker.output = asyncio.gather(process.stdout.read(), process.stderr.read())
    if line != b"ready\n":
        out, err = await worker.output
        pytest.fail(f"{worker.name} did not start: {line!r}\n{out.decode()}{err.decode()}")


def fed(worker: Worker) -> None:
    """Tell the worker that every event is stored (it then reports a loss at once)."""
    assert worker.process.stdin is not None
    worker.process.stdin.close()


@dataclass(frozen=True)
class Outcome:
    turns: int
    """What the worker counted."""
    seqs: list[int]
    """The inbox seq of each turn it committed, in commit order."""


async def finish(worker: Worker) -> Outcome:
    """Wait for the worker to exit by itself; what it says it committed."""
    assert worker.output is not None
    out, err = await worker.output
    await worker.process.wait()
    text = out.decode()
    assert worker.process.returncode == 0, (
        f"{worker.name} exited {worker.process.returncode}:\n{text}{err.decode()}"
    )
    turns = re.search(r"^turns=(\d+)$", text, re.MULTILINE)
    seqs = re.search(r"^seqs=([\d,]*)$", text, re.MULTILINE)
    assert turns is not None, f"{worker.name} printed no turn count:\n{text}"
    assert seqs is not None, f"{worker.name} printed no seqs:\n{text}"
    return Outcome(int(turns.group(1)), [int(seq) for seq in seqs.group(1).split(",") if seq])


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
                for worker in workers:
                    fed(worker)
                outcomes = [await finish(worker) for worker in workers]
                await check(store, stored)
    finally:
        for worker in workers:
            if worker.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
                    worker.process.kill()
                await worker.process.wait()
            if worker.output is not None:
                await asyncio.gather(worker.output, return_exceptions=True)
                if not worker.output.cancelled() and worker.output.exception() is None:
                    out, err = worker.output.result()  # shown by pytest if the test failed
                    print(f"--- {worker.name}\n{out.decode()}{err.decode()}")

    # Both processes worked, and every event's turn was committed exactly once among them.
    turns = {name: outcome.turns for name, outcome in zip(WORKERS, outcomes, strict=True)}
    assert all(count > 0 for count in turns.values()), turns
    assert [outcome.turns for outcome in outcomes] == [len(o.seqs) for o in outcomes]
    committed = sorted(seq for outcome in outcomes for seq in outcome.seqs)
    assert committed == sorted(entry.seq for entry in stored.values())
    # And they took turns within conversations: the order held across processes.
    owner = {
        seq: name for name, outcome in zip(WORKERS, outcomes, strict=True) for seq in outcome.seqs
    }
    shared = [
        PHONES[phone]
        for phone in range(CONVERSATIONS)
        if len({owner[stored[phone, index].seq] for index in range(MESSAGES)}) == len(WORKERS)
    ]
    assert shared, "no conversation had turns in both processes"


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
            entry = await store.get_outbound(outbox_key(seq, 0))
            assert entry is not None, (number, seq)
            assert (entry.conversation_id, entry.phone) == (conversation.id, number)
            assert entry.status is OutboxStatus.SENT
            assert entry.attempts == 1  # handed to a sender once
            assert [change["status"] for change in entry.history] == ["queued", "sent"]
            assert await store.get_outbound(outbox_key(seq, 1)) is None
            replies.append(str(entry.content.get("text")))
        # The counter numbers the turns as they were handled, the text names the event: equal
        # lists mean the k-th turn handled the k-th arrival.
        assert replies == expected, number

        transcript = await store.history(conversation.id)
        incoming = [line.key for line in transcript if line.direction is Direction.IN]
        outgoing = [line for line in transcript if line.direction is Direction.OUT]
        assert incoming == [f"in:{seq}" for seq in seqs], number
        assert [line.key for line in outgoing] == [f"out:{outbox_key(seq, 0)}" for seq in seqs], (
            number
        )
        assert [str(line.body.get("text")) for line in outgoing] == expected, number
