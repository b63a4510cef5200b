"""One worker process on a MongoDB store, for tests that run several of them.

    python -m tests.runtime.worker_process --uri URI --database DB --flow PATH \\
        --owner NAME --expect N [--backlog K] [--fed-at-eof] [--deadline SECONDS]

Runs a `Runtime` with one bot (`echo`, the flow file given), the real clock, a sender that
only records, and `Tuning(concurrency=4, poll=20 ms)`, until the store shows `N` inbound
events handled and their `N` replies sent (each event of the test's flow produces exactly one
reply), then exits 0.

- `--backlog K`: the loops start only once `K` events are pending, so that every conversation
  starts with several events queued, as after an outage, and the order of a queue is put to
  the test; events keep arriving while the loops run.
- `--fed-at-eof`: the end of stdin means that every event has been stored; from then on a
  quiet store (nothing pending, nothing queued or being sent) short of `N` replies is a loss,
  reported at once rather than at the deadline.

On stdout: `ready` once the store is open and the flow compiled; at the end `turns=K` (the
turns this process committed) and `seqs=...` (the inbox seq of each, in commit order). Exit
codes: 0 done, 1 an error (raised, or logged by a loop that carried on), 2 the deadline
passed (so that a bug cannot hang CI), 3 more replies than events, 4 replies lost.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from bots.outbox import RecordingSender
from bots.runtime import Runtime, Tuning
from bots.worker import BotProfile
from messaging.channel import Channel
from messaging.clock import SystemClock
from store.mongodb import MongoStore
from store.records import Claim, OutboxStatus, TurnWrite

BOT = "echo"
TUNING = Tuning(concurrency=4, poll=timedelta(milliseconds=20))
WATCH = 0.05
"""Seconds between two looks at the store (backlog, end condition)."""
DEADLINE = 120.0

OK, FAILED, TIMED_OUT, TOO_MANY, LOST = 0, 1, 2, 3, 4


class TellingStore(MongoStore):
    """The MongoDB store, keeping the inbox seq of every turn this process committed: the
    test checks from them that the processes shared each conversation's turns and that no
    turn was committed twice."""

    def __init__(self, uri: str, *, database: str) -> None:
        super().__init__(uri, database=database)
        self.committed: list[int] = []

    async def commit_turn(self, claim: Claim, write: TurnWrite, now: datetime) -> None:
        await super().commit_turn(claim, write, now)
        self.committed.append(claim.entry.seq)


class Alarm(logging.Handler):
    """Remembers the first error logged: the loops log a failed turn or dispatch and carry on
    (the store may be briefly unreachable in production), which in this test is a failure."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.first is None:
            self.first = record.getMessage()


class Wrong(Exception):
    """The store shows an outcome that can no longer turn right."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.runtime.worker_process")
    parser.add_argument("--uri", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--flow", required=True, type=Path)
    parser.add_argument("--owner", required=True)
    parser.add_argument("--expect", required=True, type=int)
    parser.add_argument("--backlog", type=int, default=0)
    parser.add_argument("--fed-at-eof", action="store_true")
    parser.add_argument("--deadline", type=float, default=DEADLINE)
    return parser.parse_args(argv)


async def end_of_feed(fed: asyncio.Event) -> None:
    """Set `fed` when stdin ends."""
    reader = asyncio.StreamReader()
    transport, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    try:
        while await reader.read(4096):
            pass
    finally:
        transport.close()
    fed.set()


async def done(store: MongoStore, expect: int, fed: asyncio.Event, alarm: Alarm) -> bool:
    """True once no event is pending and `expect` replies are sent. Exact: each event of the
    echo flow commits one turn writing one outbox entry keyed by the event, so the count of
    entries is the count of committed turns."""
    if alarm.first is not None:
        raise Wrong(FAILED, f"error logged: {alarm.first}")
    final = fed.is_set()  # read first: every event was stored before what follows is read
    if await store.inbox_depth() != 0:
        return False
    depth = await store.outbox_depth()
    total, sent = sum(depth.values()), depth.get(OutboxStatus.SENT, 0)
    if total > expect:
        raise Wrong(TOO_MANY, f"{total} outbox entries for {expect} events: {depth}")
    if sent == expect:
        return True
    if final and not (depth.get(OutboxStatus.QUEUED) or depth.get(OutboxStatus.SENDING)):
        raise Wrong(LOST, f"every event handled, {total} outbox entries for {expect}: {depth}")
    return False


async def watch(
    store: MongoStore, expect: int, fed: asyncio.Event, alarm: Alarm, stop: asyncio.Event
) -> None:
    while not await done(store, expect, fed, alarm):
        await asyncio.sleep(WATCH)
    stop.set()


async def serve(
    runtime: Runtime, store: MongoStore, alarm: Alarm, args: argparse.Namespace
) -> None:
    """Wait for the backlog, then run the loops until the watcher sees the end."""
    fed = asyncio.Event()
    tasks = [asyncio.create_task(end_of_feed(fed))] if args.fed_at_eof else []
    try:
        while await store.inbox_depth() < args.backlog:
            await asyncio.sleep(WATCH)
        stop = asyncio.Event()
        running = asyncio.create_task(runtime.run(stop))
        watching = asyncio.create_task(watch(store, args.expect, fed, alarm, stop))
        tasks += [running, watching]
        # The watcher sets `stop` and the loops wind down; or a loop fails, or the watcher
        # sees a wrong outcome, and the other task is cancelled below.
        finished, _ = await asyncio.wait({running, watching}, return_when=asyncio.FIRST_EXCEPTION)
        for task in finished:
            task.result()  # raises a loop's or the watcher's error
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def work(args: argparse.Namespace, alarm: Alarm) -> int:
    store = TellingStore(args.uri, database=args.database)
    runtime = Runtime(
        store,
        {BOT: BotProfile(BOT, channel=Channel.SMS)},
        {BOT: args.flow},
        clock=SystemClock(),
        sender=RecordingSender(),
        tuning=TUNING,
        owner=args.owner,
    )
    code = FAILED
    try:
        async with asyncio.timeout(args.deadline):
            await runtime.open()
            try:
                print("ready", flush=True)
                await serve(runtime, store, alarm, args)
            finally:
                await runtime.close()
        code = OK
    except TimeoutError:
        print(f"{args.owner}: not done within {args.deadline:g} s", file=sys.stderr)
        code = TIMED_OUT
    except Wrong as error:
        print(f"{args.owner}: {error}", file=sys.stderr)
        code = error.code
    except Exception:
        logging.getLogger(__name__).exception("%s failed", args.owner)
    print(f"turns={runtime.worker.turns}", flush=True)
    print(f"seqs={','.join(map(str, store.committed))}", flush=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    alarm = Alarm()
    logging.getLogger().addHandler(alarm)
    return asyncio.run(work(parse(argv), alarm))


if __name__ == "__main__":
    sys.exit(main())
