"""Running a campaign (docs/campaigns.md): its pending recipients, in input order, a batch at a
time, at its pace, each started once.

- One runner per campaign across processes: the runner takes the campaign under a lease
  (`runner`, `lease_until`) by compare-and-set on its version, and renews it between batches;
  a runner that died is replaced once its lease expired.
- Nobody twice: each start is appended to the inbox under `campaign:{id}:{phone}`, which the
  inbox keeps once; a recipient is marked after its batch. A runner killed between the two
  leaves them `pending`: the next one appends again, the inbox answers "already there", and
  they count as started.
- The send gate decides, as it does for every message (`compliance.gate.decide`): red-listed
  recipients are skipped (R6), opted-out ones too when the bot's flow is marketing (R25), and
  marketing waits for its hours (sms.md §3.3), the campaign showing until when.
- Pause and cancel are status changes (bots/campaigns.py `set_status`): they bump the version,
  the runner's next renewal fails, and it stops between two batches. Paused, it resumes from
  the pending rows; cancelled, it never runs again.
- Pacing and waiting read the runtime's `Clock` and wait through `sleep`, so tests run on a
  fake clock without sleeping.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from bots.campaigns_import import import_rows, legacy_rows, list_rows
from bots.runtime import Runtime, process_owner
from compliance.gate import Block, GatePolicy, Hold, Outgoing, decide
from flows.schema import Traffic
from store.campaigns_records import Campaign, CampaignStatus, RecipientState

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

LEASE = timedelta(seconds=15)
"""How long a runner holds a campaign without renewing it: the wait before another process
takes over from one that died."""
BATCH = 200
"""Recipients per batch at most: between two batches the runner renews its lease, marks the
batch and sees a pause."""
BATCH_SECONDS = 1.0
"""A batch lasts about this long at the campaign's pace (fewer recipients at a slow pace), so
that a pause is seen within a second or so."""
_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class SendingRules:
    """What decides whether a bot's campaign may reach a recipient now."""

    business: str = "default"
    """Whose opt-outs and red list apply (R6, R25)."""
    policy: GatePolicy = field(default_factory=GatePolicy)
    """The deployment's gate: its quiet hours hold marketing."""


def campaign_key(campaign_id: str, phone: str) -> str:
    """A recipient's start in the inbox: the same key twice is kept once."""
    return f"campaign:{campaign_id}:{phone}"


class CampaignRunner:
    """Runs campaigns of `runtime`'s bots, each under this runner's lease (`owner`)."""

    def __init__(
        self,
        runtime: Runtime,
        rules: Mapping[str, SendingRules] | None = None,
        *,
        owner: str | None = None,
        sleep: Sleep = asyncio.sleep,
        lease: timedelta = LEASE,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.clock = runtime.clock
        self.rules = dict(rules or {})
        self.owner = owner or process_owner()
        self.sleep = sleep
        self.lease = lease
        self.stop = stop or asyncio.Event()
        """Set it to leave between two recipients, the lease released: resumable at once."""

    async def run(self, campaign_id: str) -> Campaign | None:
        """Run the campaign until it is done, paused, cancelled or `stop` is set; the campaign
        as this runner left it, or None when it was not this runner's to run (not due, or
        leased by another runner)."""
        campaign = await self._take(campaign_id)
        if campaign is None:
            return None
        try:
            return await self._run(campaign)
        except asyncio.CancelledError:
            await self._release(campaign_id)
            raise

    async def _take(self, campaign_id: str) -> Campaign | None:
        for _ in range(_ATTEMPTS):
            campaign = await self.store.get_campaign(campaign_id)
            now = self.clock.now()
            if campaign is None or not self.may_take(campaign, now):
                return None
            if campaign.total == 0 and (campaign.recipients or campaign.list_name):
                # Written by schema version 9 (an import leaves none scheduled without rows):
                # its own recipients, or its list's members, become rows first.
                rows = (
                    legacy_rows(campaign)
                    if campaign.recipients
                    else list_rows(self.store, campaign.list_name or "")
                )
                campaign = await import_rows(self.store, campaign, rows, now)
                continue
            taken = self._next(campaign, now, status=CampaignStatus.RUNNING)
            if await self.store.update_campaign(taken):
                return taken
        return None

    def may_take(self, campaign: Campaign, now: datetime) -> bool:
        """Due (scheduled and its time came), or running without a live lease of another."""
        if campaign.status is CampaignStatus.SCHEDULED:
            return campaign.send_at <= now
        if campaign.status is not CampaignStatus.RUNNING:
            return False
        free = campaign.lease_until is None or campaign.lease_until <= now
        return free or campaign.runner == self.owner

    def _next(self, campaign: Campaign, now: datetime, **changes: Any) -> Campaign:
        """The campaign with this runner's lease renewed from `now`, and `changes`."""
        changes.setdefault("runner", self.owner)
        changes.setdefault("lease_until", now + self.lease)
        return replace(campaign, version=campaign.version + 1, updated_at=now, **changes)

    async def _renew(self, campaign: Campaign, **changes: Any) -> Campaign | None:
        """The campaign with the lease renewed (and `changes`), or None when it is no longer
        this runner's to run: paused, cancelled, or taken over."""
        for _ in range(_ATTEMPTS):
            renewed = self._next(campaign, self.clock.now(), **changes)
            if await self.store.update_campaign(renewed):
                return renewed
            latest = await self.store.get_campaign(campaign.id)
            if (
                latest is None
                or latest.status is not CampaignStatus.RUNNING
                or latest.runner != self.owner
            ):
                return None
            campaign = latest
        return None

    async def _run(self, campaign: Campaign) -> Campaign | None:
        rules = self.rules.get(campaign.bot_id, SendingRules())
        flow = self.runtime.flows.current(campaign.bot_id).flow
        marketing = flow.traffic is Traffic.MARKETING
        pace = campaign.pace
        size = BATCH if not pace else max(1, min(BATCH, int(pace * BATCH_SECONDS)))
        origin, sent = self.clock.now(), 0
        current: Campaign | None = campaign
        while current is not None:
            if self.stop.is_set():
                await self._release(current.id)
                return await self.store.get_campaign(current.id)
            batch = await self.store.campaign_recipients(
                current.id, state=RecipientState.PENDING, limit=size
            )
            if not batch:
                return await self._finish(current)
            states: dict[str, RecipientState] = {}
            hold: Hold | None = None
            for recipient in batch:
                if self.stop.is_set():
                    break
                if pace:
                    now = self.clock.now()
                    due = origin + timedelta(seconds=sent / pace)
                    if (now - due).total_seconds() > BATCH_SECONDS:
                        # Fell behind (a busy process): catch up one batch's worth at most,
                        # never a burst over the pace.
                        origin = now - timedelta(seconds=sent / pace - BATCH_SECONDS)
                        due = origin + timedelta(seconds=sent / pace)
                    wait = (due - now).total_seconds()
                    if wait > 0:
                        await self.sleep(wait)
                decision = await self._decide(recipient.phone, rules, marketing)
                if isinstance(decision, Hold):
                    hold = decision
                    break
                if isinstance(decision, Block):
                    skip = RecipientState.RED_LISTED if decision.rule == "R6" else None
                    states[recipient.phone] = skip or RecipientState.OPTED_OUT
                    continue
                await self.runtime.start_conversation(
                    current.bot_id,
                    recipient.phone,
                    key=campaign_key(current.id, recipient.phone),
                    variables={**current.vars, **recipient.vars},
                )
                states[recipient.phone] = RecipientState.STARTED
                sent += 1
            if states:
                await self.store.mark_campaign_recipients(current.id, states)
            cursor = max((r.seq for r in batch if r.phone in states), default=current.cursor)
            if hold is None:
                current = await self._renew(current, cursor=cursor, waiting_until=None)
                continue
            current = await self._wait(current, hold.until, cursor)
            origin, sent = self.clock.now(), 0
        return await self.store.get_campaign(campaign.id)

    async def _decide(
        self, phone: str, rules: SendingRules, marketing: bool
    ) -> Block | Hold | None:
        """The gate's answer for a recipient now; None: start them."""
        record = await self.store.get_opt_out(rules.business, phone)
        message = Outgoing(
            traffic="marketing" if marketing else "transactional",
            phone=phone,
            text="",
            now=self.clock.now(),
            templated=False,  # the flow's messages are checked when they leave
            opted_out=record is not None and record.opted_out,
            red_listed=await self.store.red_listed(rules.business, phone),
        )
        decision = decide(message, rules.policy)
        return decision if isinstance(decision, Block | Hold) else None

    async def _wait(self, campaign: Campaign, until: datetime, cursor: int) -> Campaign | None:
        """Wait for the marketing hours, renewing the lease, showing `waiting_until`."""
        current: Campaign | None = campaign
        log.info("campaign %s waits for the marketing hours until %s", campaign.id, until)
        while current is not None and not self.stop.is_set():
            now = self.clock.now()
            if now >= until:
                return await self._renew(current, cursor=cursor, waiting_until=None)
            current = await self._renew(current, cursor=cursor, waiting_until=until)
            step = min((until - now).total_seconds(), self.lease.total_seconds() / 3)
            await self.sleep(step)
        return current

    async def _finish(self, campaign: Campaign) -> Campaign | None:
        counts = await self.store.campaign_counts(campaign.id)
        return await self._renew(
            campaign,
            status=CampaignStatus.DONE,
            started=counts[RecipientState.STARTED],
            runner=None,
            lease_until=None,
            waiting_until=None,
        )

    async def _release(self, campaign_id: str) -> None:
        """Leave the campaign running without a lease: another runner may take it at once."""
        for _ in range(_ATTEMPTS):
            campaign = await self.store.get_campaign(campaign_id)
            if campaign is None or campaign.runner != self.owner:
                return
            now = self.clock.now()
            released = self._next(campaign, now, runner=None, lease_until=None)
            if await self.store.update_campaign(released):
                return
