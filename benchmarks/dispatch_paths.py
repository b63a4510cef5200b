"""The two timed paths of `benchmarks/dispatch.py`, run on the same `Line` in one round.

- `causette`: the messages are queued in the outbox as the worker writes them (one committed
  turn per conversation, not timed); then `Dispatcher.dispatch_due()` with the `Router` is
  timed until no entry is `queued`, `sending` or `revoked` any more: every message was handed
  to RBM or smsmode (`sent`) or already confirmed (`delivered`). Capability checks are on (the
  default policy): the first message of each phone asks RBM first, SMS-only phones answer 404
  and go by SMS (`t2c`). Each conversation's messages leave one after the other, as the store
  serves only a conversation's head.
- `baseline`: the same number of messages to the same phones, posted with the bare clients:
  `RbmClient.send` for RCS phones (content validated and rendered with
  `render_rbm_messages`), `SmsmodeClient.send_sms` for SMS-only ones (`render_sms`), the same
  callback URLs, at most `in_flight` at once (a semaphore), no store, no checks, no order.

Before the windows of a round, a few untimed bare sends warm the line up (`warm_up`). After
each timed window the emulators are drained (`Line.settle`): the receipts of one path
never run during the other's window, and the time until every receipt is stored is reported
as well for `causette`.
"""

from __future__ import annotations

import asyncio
import cProfile
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from agents.errors import ProviderError
from agents.message_ids import rbm_message_id
from benchmarks.dispatch_line import BOT, LEASE, Line
from messaging.content import CONTENT
from messaging.renderers.rbm import render_rbm_messages
from messaging.renderers.sms import render_sms
from sandbox.phonebook import Network
from store.records import (
    WAITING_OUTBOX,
    Conversation,
    ConversationStatus,
    InboxSource,
    NewInbound,
    NewOutbound,
    TurnWrite,
)

RBM_TTL = timedelta(hours=23)
"""What the router gives a fresh message: its 24 h validity less `sms_margin` (1 h)."""
GIVE_UP = timedelta(minutes=5)
"""A causette window that has not emptied the outbox by then stops (reported unfinished)."""
POLL = 0.005
"""Seconds between two looks at the outbox while an entry waits for a retry."""


@dataclass(frozen=True, slots=True)
class Message:
    phone: str
    network: Network
    text: str


def plan(phones: list[tuple[str, Network]], messages: int) -> list[list[Message]]:
    """The messages of each conversation (one per phone), `messages` in all, spread evenly."""
    count = len(phones)
    plans = []
    for index, (phone, network) in enumerate(phones):
        mine = messages // count + (1 if index < messages % count else 0)
        texts = [f"Rappel {n + 1}/{mine} : votre rendez-vous de demain, 10 h." for n in range(mine)]
        plans.append([Message(phone, network, text) for text in texts])
    return plans


def interleaved(plans: list[list[Message]]) -> list[Message]:
    """Every first message, then every second one...: the order the dispatcher takes them."""
    longest = max((len(p) for p in plans), default=0)
    return [p[n] for n in range(longest) for p in plans if n < len(p)]


@dataclass(frozen=True, slots=True)
class PathRun:
    """One timed window."""

    messages: int
    ns: int
    requests: dict[str, int]
    """Requests the server answered from the window's start until the emulators settled."""
    channels: dict[str, int]
    """Messages by the channel they went on (`rcs`, `t2c`)."""
    statuses: dict[str, int]
    """Outbox statuses once settled (causette), or `accepted` / `failed` (baseline)."""
    store_ns: dict[str, int]
    """ns spent in the store's calls within the timed window, by `STORE_CALLS` name."""
    store_calls: dict[str, int]
    settled_ns: int | None = None
    """causette: from the start until every receipt was stored."""

    @property
    def store_us_per_message(self) -> float:
        return sum(self.store_ns.values()) / 1000 / self.messages

    @property
    def per_s(self) -> float:
        return self.messages / (self.ns / 1e9)

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "messages": self.messages,
            "seconds": round(self.ns / 1e9, 3),
            "msgs_per_s": round(self.per_s, 1),
            "channels": self.channels,
            "statuses": self.statuses,
            "requests": self.requests,
            "store_ms": {name: round(ns / 1e6, 1) for name, ns in self.store_ns.items()},
            "store_calls": self.store_calls,
            "store_us_per_message": round(self.store_us_per_message, 1),
        }
        if self.settled_ns is not None:
            found["receipts_stored_after_s"] = round(self.settled_ns / 1e9, 3)
        return found


# --- causette ------------------------------------------------------------------------------


async def queue(line: Line, plans: list[list[Message]]) -> list[str]:
    """Queue each conversation's messages as one committed turn, as the worker does (and the
    fallback tests' `Line.queue`); returns the outbox keys."""
    keys: list[str] = []
    now = datetime.now(UTC)
    for number, messages in enumerate(plans):
        if not messages:
            continue
        phone = messages[0].phone
        event = {"kind": "start"}
        inbound = NewInbound(InboxSource.START, f"start-{number}", BOT, phone, event, now)
        await line.store.append_inbound(inbound)
        claim = await line.store.claim("worker", now, LEASE)
        if claim is None:
            raise RuntimeError("the inbound event just appended cannot be claimed")
        seq = claim.entry.seq
        conversation = Conversation(
            id=f"{BOT}-{seq}",
            bot_id=BOT,
            phone=phone,
            flow_id="rappels",
            flow_hash="h",
            state="s",
            vars={},
            choices=[],
            status=ConversationStatus.ACTIVE,
            attempts=0,
            epoch=0,
            contact={},
            channel="rcs",
            version=1,
            last_inbox_seq=0,
            created_at=now,
            updated_at=now,
        )
        mine = [f"{seq:012d}:{index:03d}" for index in range(len(messages))]
        outbound = [
            NewOutbound(key, {"text": m.text}, "rcs", now)
            for key, m in zip(mine, messages, strict=True)
        ]
        await line.store.commit_turn(claim, TurnWrite(conversation, outbound, [], [], []), now)
        keys.extend(mine)
    return keys


async def waiting(line: Line) -> int:
    depth = await line.store.outbox_depth()
    return sum(depth.get(status, 0) for status in WAITING_OUTBOX)


async def run_causette(
    line: Line, plans: list[list[Message]], profiler: cProfile.Profile | None = None
) -> PathRun:
    keys = await queue(line, plans)
    before = Counter(line.requests)
    spent, calls = Counter(line.store.spent), Counter(line.store.calls)
    start = time.perf_counter_ns()
    give_up = start + int(GIVE_UP.total_seconds() * 1e9)
    with profiler or nullcontext():
        while True:
            await line.dispatcher.dispatch_due()
            # Nothing claimable now; done unless an entry waits for a retry.
            if not await waiting(line) or time.perf_counter_ns() > give_up:
                break
            await asyncio.sleep(POLL)
    ns = time.perf_counter_ns() - start
    store_ns, store_calls = line.store.spent - spent, line.store.calls - calls
    await line.settle()
    settled = time.perf_counter_ns() - start
    channels: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    for key in keys:
        entry = await line.store.get_outbound(key)
        if entry is None:
            raise RuntimeError(f"outbox entry {key} vanished")
        channels[entry.route or "none"] += 1
        statuses[entry.status.value] += 1
    return PathRun(
        messages=len(keys),
        ns=ns,
        requests=dict(Counter(line.requests) - before),
        channels=dict(channels),
        statuses=dict(statuses),
        store_ns=dict(store_ns),
        store_calls=dict(store_calls),
        settled_ns=settled,
    )


async def warm_up(line: Line, plans: list[list[Message]], in_flight: int, tag: str) -> None:
    """Untimed bare sends before a round's windows: the client's connections are opened, RBM
    verifies our webhook (its handshake comes before the first event) and the emulators open
    their callback sessions, so that neither timed path pays for it."""
    first = interleaved(plans)[: 2 * in_flight]
    await run_baseline(line, [[message] for message in first], in_flight, tag)


# --- baseline ------------------------------------------------------------------------------


async def run_baseline(line: Line, plans: list[list[Message]], in_flight: int, tag: str) -> PathRun:
    """The same messages straight through the clients; `tag` keeps message ids unique."""
    messages = interleaved(plans)
    gate = asyncio.Semaphore(in_flight)
    bot = line.bot
    outcomes: Counter[str] = Counter()
    channels: Counter[str] = Counter()

    async def send(index: int, message: Message) -> None:
        async with gate:
            content = CONTENT.validate_python({"text": message.text})
            ref = f"{tag}{index:09d}:000"
            try:
                if message.network is Network.RCS:
                    parts = render_rbm_messages(content, traffic=bot.traffic, ttl=RBM_TTL)
                    for part_index, part in enumerate(parts):
                        message_id = rbm_message_id(f"{ref}/{part_index}")
                        await line.rbm_client.send(message.phone, part, message_id=message_id)
                    channels["rcs"] += 1
                else:
                    sms_line = bot.sms_line(message.phone)
                    await line.smsmode.send_sms(
                        message.phone,
                        render_sms(content).text,
                        sender=sms_line.sender,
                        ref_client=ref,
                        status_url=bot.status_url,
                        mo_url=bot.mo_url,
                    )
                    channels[sms_line.channel.value] += 1
            except ProviderError:
                outcomes["failed"] += 1
            else:
                outcomes["accepted"] += 1

    before = Counter(line.requests)
    spent, calls = Counter(line.store.spent), Counter(line.store.calls)
    start = time.perf_counter_ns()
    await asyncio.gather(*(send(index, m) for index, m in enumerate(messages)))
    ns = time.perf_counter_ns() - start
    store_ns, store_calls = line.store.spent - spent, line.store.calls - calls
    await line.settle()
    return PathRun(
        messages=len(messages),
        ns=ns,
        requests=dict(Counter(line.requests) - before),
        channels=dict(channels),
        statuses=dict(outcomes),
        store_ns=dict(store_ns),
        store_calls=dict(store_calls),
    )
