"""The conversation worker: claim a conversation's next event, run the turn, commit it.

Events of one conversation are handled one at a time in arrival order, across every process
sharing the store: a worker holds the conversation's lease (`Store.claim`) from reading the
event to committing its outcome. Different conversations run concurrently, up to a bound.
The engine never sends anything: a turn's messages become outbox entries in the same write
as the conversation, and the dispatcher sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bots.business_events import turn_events
from bots.conversations import (
    engine_event,
    notice_write,
    snapshot_of,
    turn_write,
    with_snapshot,
)
from bots.flow_versions import FlowVersions, UnknownFlowVersion
from compliance.keywords import Keywords
from flows.compiler import CompiledFlow
from flows.conversation import (
    PARIS,
    Event,
    FlowRuntimeError,
    HttpCaller,
    Snapshot,
    Start,
    StepResult,
    TurnContext,
)
from flows.engine import new_snapshot, step
from messaging.channel import Channel
from messaging.clock import Clock
from messaging.phone import Phone
from sessions.billing import Billing
from sessions.events import Mo
from store.availability import log_failure
from store.base import LeaseLost, Store, VersionConflict
from store.business_events_records import EventKind
from store.compliance_records import OptOut
from store.records import (
    Claim,
    Conversation,
    ConversationStatus,
    InboxEntry,
    InboxSource,
    TurnWrite,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BotProfile:
    """What a turn needs to know about its bot."""

    id: str
    env: Mapping[str, str] = field(default_factory=dict)
    channel: Channel = Channel.RCS
    """The channel a conversation starts on when its start event names none."""
    timezone: ZoneInfo = PARIS
    business: str = "default"
    """Who the bot's opt-outs belong to (R25)."""
    keywords: Keywords | None = None
    """STOP/START words, read before the flow; None: the flow reads everything."""
    opt_out_confirmation: str | None = None
    """Sent once when someone opts out, where the country requires it (R26)."""
    opt_in_confirmation: str | None = None
    events: frozenset[EventKind] = frozenset()
    """What the bot's business is told by webhook (its `webhook.events`; none without one)."""


class Worker:
    def __init__(
        self,
        store: Store,
        flows: FlowVersions,
        bots: Mapping[str, BotProfile],
        *,
        clock: Clock,
        owner: str,
        lease: timedelta = timedelta(seconds=30),
        http: HttpCaller | None = None,
        on_turn: Callable[[float], None] | None = None,
        billing: Billing | None = None,
    ) -> None:
        self.store = store
        self.billing = billing
        """Told of every message people send on RCS and Time2Chat (sessions they open)."""
        self.on_turn = on_turn
        """Called with each committed turn's duration in seconds (metrics)."""
        self.committed = asyncio.Event()
        """Set after each commit: the dispatcher has new messages to send."""
        self.flows = flows
        self.bots = bots
        self.clock = clock
        self.owner = owner
        self.lease = lease
        self.http = http
        self.turns = 0

    async def handle_next(self) -> bool:
        """Handle one pending event; False when there was none to claim."""
        claim = await self.store.claim(self.owner, self.clock.now(), self.lease)
        if claim is None:
            return False
        try:
            await self._handle(claim)
        except LeaseLost as error:
            # Another worker took the conversation over: the event is its to handle.
            log.warning("turn of seq %s dropped: %s", claim.entry.seq, error)
        except VersionConflict as error:
            # The conversation changed under us (a migration): handle the event again, later,
            # from the stored state.
            log.warning("turn of seq %s dropped: %s", claim.entry.seq, error)
            await self.store.release(claim)
        except BaseException:
            await self.store.release(claim)
            raise
        return True

    async def drain(self) -> int:
        """Handle events until none is pending (tests and batch runs); returns how many."""
        handled = 0
        while await self.handle_next():
            handled += 1
        return handled

    async def run(self, stop: asyncio.Event, wake: asyncio.Event, poll: timedelta | None) -> None:
        """Handle events until `stop` is set; when idle, wait for `wake`, or look again after
        `poll` (None: only on `wake`, for loops that leave polling to another one)."""
        timeout = poll.total_seconds() if poll is not None else None
        while not stop.is_set():
            # Cleared before looking, so that an event appended meanwhile is not slept past.
            wake.clear()
            try:
                if await self.handle_next():
                    wake.set()  # there may be more: idle loops of this process look too
                    continue
            except Exception as error:  # the store may be briefly unreachable: keep the loop alive
                log_failure(log, error, "handling an event failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)

    async def _handle(self, claim: Claim) -> None:
        started = time.perf_counter()
        entry = claim.entry
        now = self.clock.now()
        # Billed whatever the flow makes of it, before the turn: a replay bills nothing twice.
        await self._bill(entry)
        conversation = await self.store.get_conversation(entry.bot_id, entry.phone)
        reason = self._reason_to_skip(claim, conversation)
        if reason is None:
            try:
                write = await self._opt_out_turn(claim, conversation)
                if write is None:
                    write = await self._turn(claim, conversation)
            except (FlowRuntimeError, UnknownFlowVersion, ValueError) as error:
                # The event cannot be handled: consumed, so that the conversation's next
                # events are not blocked behind it for ever.
                reason = f"turn failed: {error}"
            else:
                await self.store.commit_turn(claim, write, now)
                self.turns += 1
                self.committed.set()
                if self.on_turn is not None:
                    self.on_turn(time.perf_counter() - started)
                return
        log.warning("inbox seq %s of bot %s skipped: %s", entry.seq, entry.bot_id, reason)
        await self.store.skip(claim, now)

    async def _turn(self, claim: Claim, conversation: Conversation | None) -> TurnWrite:
        entry = claim.entry
        event: Event | None = engine_event(entry)
        profile = self.bots[entry.bot_id]
        results: list[StepResult] = []
        before = conversation
        if conversation is None:
            flow = self.flows.current(entry.bot_id)
            conversation = self._new_conversation(claim, flow, profile)
            stored = await self.store.get_contact(entry.phone)
            if stored is not None:
                # The address book's fields are the person's `contact.*` in templates; what
                # the start request gives wins (R6 lists, `causette contacts import`).
                contact = {**stored.fields, **conversation.contact}
                conversation = replace(conversation, contact=contact)
            snapshot = new_snapshot(flow, conversation.vars)
            # A message from someone not in conversation starts one, then is read by it.
            event = None if isinstance(event, Start) else event
            results.append(await self._step(flow, snapshot, Start(), conversation, profile))
            snapshot = results[-1].snapshot
        else:
            flow = await self.flows.get(conversation.flow_hash)
            snapshot = snapshot_of(conversation)
        arrived_on = entry.event.get("channel") if entry.event.get("kind") == "inbound" else None
        if arrived_on and arrived_on != conversation.channel:
            # The recipient answered on another channel (an SMS reply to a message that fell
            # back from RCS): the conversation follows them there.
            conversation = replace(conversation, channel=str(arrived_on))
        if event is not None:
            results.append(await self._step(flow, snapshot, event, conversation, profile))
            snapshot = results[-1].snapshot
        now = self.clock.now()
        after = with_snapshot(conversation, snapshot, seq=entry.seq, now=now)
        write = turn_write(conversation, after, entry, results, now)
        queue = next((r.handoff.queue for r in results if r.handoff is not None), None)
        events = turn_events(
            before, after, seq=entry.seq, kinds=profile.events, now=now, handoff_queue=queue
        )
        return replace(write, events=events)

    async def _opt_out_turn(
        self, claim: Claim, conversation: Conversation | None
    ) -> TurnWrite | None:
        """STOP or START from the person, on any channel (R25, R26): recorded for the bot's
        business, confirmed, and not given to the flow. STOP ends the conversation."""
        entry = claim.entry
        profile = self.bots[entry.bot_id]
        if profile.keywords is None or entry.event.get("kind") != "inbound":
            return None
        message = entry.event.get("message") or {}
        word = profile.keywords.classify(str(message.get("text") or ""))
        if word is None:
            return None
        now = self.clock.now()
        stop = word == "stop"
        channel = str(entry.event.get("channel") or "")
        await self.store.set_opt_out(
            OptOut(profile.business, entry.phone, stop, entry.received_at, f"{channel}:{word}")
        )
        log.info(
            "%s opted %s for %s",
            Phone(entry.phone).masked,
            "out" if stop else "in",
            profile.business,
        )
        before = conversation or self._new_conversation(
            claim, self.flows.current(entry.bot_id), profile
        )
        after = replace(
            before,
            channel=channel or before.channel,
            status=ConversationStatus.ENDED if stop or conversation is None else before.status,
            version=before.version + 1,
            last_inbox_seq=entry.seq,
            updated_at=now,
        )
        text = profile.opt_out_confirmation if stop else profile.opt_in_confirmation
        write = notice_write(before, after, entry, text, now)
        events = turn_events(
            conversation, after, seq=entry.seq, kinds=profile.events, now=now, reason="opt_out"
        )
        return replace(write, events=events)

    async def _bill(self, entry: InboxEntry) -> None:
        if self.billing is None or entry.source not in (InboxSource.RBM, InboxSource.SMSMODE):
            return
        channel = str(entry.event.get("channel") or "")
        sender = self.billing.mo_sender(entry.bot_id, channel)
        if sender is None:
            return  # an MO on plain SMS (a shortcode) opens nothing
        mo = Mo(entry.provider_id, entry.bot_id, entry.phone, entry.received_at, channel, sender)
        await self.billing.on_mo(mo)

    def _reason_to_skip(self, claim: Claim, conversation: Conversation | None) -> str | None:
        entry = claim.entry
        kind = entry.event.get("kind")
        if entry.bot_id not in self.bots:
            return f"bot {entry.bot_id!r} is not configured here"
        if conversation is not None and entry.seq <= conversation.last_inbox_seq:
            return "already applied (a replay after a crash)"
        if kind == "timer" and (
            conversation is None or entry.event.get("conversation_id") != conversation.id
        ):
            return "timer of a conversation that is over"
        if kind == "start" and conversation is not None:
            return f"{Phone(entry.phone).masked} is already in conversation {conversation.id}"
        return None

    def _new_conversation(
        self, claim: Claim, flow: CompiledFlow, profile: BotProfile
    ) -> Conversation:
        entry = claim.entry
        start: dict[str, Any] = entry.event if entry.event.get("kind") == "start" else {}
        variables = {**flow.flow.vars, **start.get("vars", {})}
        now = self.clock.now()
        return Conversation(
            # Derived from the event, not random: a replay after a crash names the same one.
            id=f"{entry.bot_id}-{entry.seq}",
            bot_id=entry.bot_id,
            phone=entry.phone,
            flow_id=flow.id,
            flow_hash=flow.content_hash,
            state=flow.start,
            vars=variables,
            choices=[],
            status=ConversationStatus.ACTIVE,
            attempts=0,
            epoch=0,
            contact={"phone": entry.phone, **start.get("contact", {})},
            channel=str(start.get("channel") or entry.event.get("channel") or profile.channel),
            version=0,
            last_inbox_seq=0,
            created_at=now,
            updated_at=now,
        )

    async def _step(
        self,
        flow: CompiledFlow,
        snapshot: Snapshot,
        event: Event,
        conversation: Conversation,
        profile: BotProfile,
    ) -> StepResult:
        context = TurnContext(
            contact=conversation.contact,
            channel=Channel(conversation.channel),
            bot={"id": profile.id},
            env=profile.env,
            timezone=profile.timezone,
        )
        return await step(flow, snapshot, event, context=context, clock=self.clock, http=self.http)
