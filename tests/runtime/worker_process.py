"""One worker process on a MongoDB store, for tests that run several of them.

    python -m tests.runtime.worker_process --uri URI --database DB --flow PATH \\
        --owner NAME --expect N

Runs a `Runtime` with one bot (`echo`, the flow file given), the real clock and a sender that
only records, until the store shows `N` inbound events handled and their `N` replies sent
(every inbound event of the test's flow produces exactly one reply), then exits 0. It prints
`ready` once the store is open and the flow compiled, and `turns=K` (the turns this process
committed) at the end, on stdout. Any error exits non-zero; so does the overall deadline, so
that a bug cannot hang CI.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from bots.outbox import RecordingSender
from bots.runtime import Runtime, Tuning
from bots.worker import BotProfile
from messaging.channel import Channel
from messaging.clock import SystemClock
from store.mongodb import MongoStore
from store.records import OutboxStatus

BOT = "echo"
TUNING = Tuning(concurrency=4, poll=timedelta(milliseconds=20))
WATCH = 0.05
"""Seconds between two looks at the store for the end condition."""
DEADLINE = 120.0

OK, FAILED, TIMED_OUT, TOO_MANY = 0, 1, 2, 3


class TooMany(Exception):
    """More replies than events expected: something was produced twice."""


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.runtime.worker_process")
    parser.add_argument("--uri", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--flow", required=True, type=Path)
    parser.add_argument("--owner", required=True)
    parser.add_argument("--expect", required=True, type=int)
    parser.add_argument("--deadline", type=float, default=DEADLINE)
    return parser.parse_args(argv)


async def all_handled(runtime: Runtime, expect: int) -> bool:
    """True once no event is pending and `expect` replies are sent. Exact: each event of the
    echo flow commits one turn with one outbox entry, keyed by the event, so the count of
    entries is the count of committed turns."""
    store = runtime.store
    if await store.inbox_depth() != 0:
        return False
    depth = await store.outbox_depth()
    total = sum(depth.values())
    if total > expect:
        raise TooMany(f"{total} outbox entries for {expect} events: {depth}")
    return depth.get(OutboxStatus.SENT, 0) == expect


async def watch(runtime: Runtime, expect: int, stop: asyncio.Event) -> None:
    while not await all_handled(runtime, expect):
        await asyncio.sleep(WATCH)
    stop.set()


async def work(args: argparse.Namespace) -> int:
    runtime = Runtime(
        MongoStore(args.uri, database=args.database),
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
                stop = asyncio.Event()
                running = asyncio.create_task(runtime.run(stop))
                watching = asyncio.create_task(watch(runtime, args.expect, stop))
                try:
                    # Whichever ends first: the watcher sets `stop` and the loops wind down,
                    # or a loop fails and the watcher is no longer needed.
                    done, _ = await asyncio.wait(
                        {running, watching}, return_when=asyncio.FIRST_EXCEPTION
                    )
                    for task in done:
                        task.result()  # raises a loop's or the watcher's error
                    await running
                finally:
                    stop.set()
                    for task in (running, watching):
                        task.cancel()
                    await asyncio.gather(running, watching, return_exceptions=True)
            finally:
                await runtime.close()
        code = OK
    except TimeoutError:
        print(f"{args.owner}: not done within {args.deadline:g} s", file=sys.stderr)
        code = TIMED_OUT
    except TooMany as error:
        print(f"{args.owner}: {error}", file=sys.stderr)
        code = TOO_MANY
    except Exception:
        logging.getLogger(__name__).exception("%s failed", args.owner)
        code = FAILED
    print(f"turns={runtime.worker.turns}", flush=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return asyncio.run(work(parse(argv)))


if __name__ == "__main__":
    sys.exit(main())
