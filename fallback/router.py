"""What the dispatcher does with one claimed outbox entry: choose its channel, send it, arm its
delivery deadline, revoke it and fall back to SMS, or schedule its retry.

An entry's `route` says where it stands:
- None: not routed yet. The router chooses (`_choose`) and records the choice with its reason.
- `rcs`: an RCS copy may exist under the id derived from the outbox key. A retry re-sends it
  under the same id, which RBM ignores when it already has it (rbm.md §0), so a timeout never
  becomes a duplicate; such an entry never moves to SMS without a revoke first.
- `sms` or `t2c`: it goes (or went) by SMS. Set after a revoke answered 200, a TTL expiry
  revoked by RBM (`TTL_EXPIRATION_REVOKED`, webhooks/), or a choice of SMS.

Every write goes through `_mark`, fenced by this dispatcher's lease: once a receipt settled the
entry (DELIVERED racing a revoke), the next write fails and the router stops. Before the one
send that is not idempotent (smsmode has no idempotency key), the fence is checked once more.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from agents.errors import (
    Invalid,
    NotReachable,
    OutcomeUnknown,
    ProviderError,
    RateLimited,
    Transient,
)
from agents.message_ids import rbm_message_id
from agents.rbm import RbmClient
from agents.smsmode import SmsmodeClient
from compliance.gate import Block, Hold
from compliance.validity import remaining
from fallback.billed import bill, rcs_mt, sms_mt
from fallback.channels import BotChannels
from fallback.choosing import Chooser
from fallback.credit_gate import WAIT as CREDIT_WAIT
from fallback.credit_gate import CreditGate
from fallback.policy import DispatchPolicy
from fallback.send_gate import SendGate
from messaging.channel import Channel
from messaging.clock import Clock
from messaging.content import CONTENT
from messaging.encoding import split
from messaging.renderers.rbm import TrafficType, render_rbm_messages
from messaging.renderers.sms import DEFAULT_STOP_MENTION, SmsMessage, render_sms
from sessions.billing import Billing
from sessions.events import Mt
from store.base import LeaseLost, Store
from store.records import OutboxEntry, OutboxStatus
from store.unconfirmed_sms import (
    interrupted_sms,
    reported,
    unconfirmed_detail,
)

log = logging.getLogger(__name__)

MIN_TTL = timedelta(seconds=1)
"""The shortest `ttl` given to RBM (near the end of the validity: RBM revokes at once)."""

UNROUTED = ""
"""Written as `route` to forget a choice (after RBM refused the message outright): the next
attempt chooses again."""


class Router:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        bots: Mapping[str, BotChannels],
        smsmode: SmsmodeClient | None,
        *,
        owner: str,
        policy: DispatchPolicy | None = None,
        rng: random.Random | None = None,
        billing: Billing | None = None,
        credits: CreditGate | None = None,
        gate: SendGate | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.bots = dict(bots)
        self.smsmode = smsmode
        self.owner = owner
        self.policy = policy or DispatchPolicy()
        self.rng = rng or random.Random()
        self.chooser = Chooser(store, clock, self.policy)
        self.breakers = self.chooser.breakers
        self.capabilities = self.chooser.capabilities
        self.agents = self.chooser.agents
        self.billing = billing
        self.credits = credits
        self.gate = gate

    async def handle(self, entry: OutboxEntry) -> None:
        """Act on an entry claimed by this dispatcher (`sending`, under its lease)."""
        bot = self.bots.get(entry.bot_id)
        if bot is None:
            await self._mark(entry, OutboxStatus.FAILED, detail="bot not configured here")
            return
        if interrupted_sms(entry) and self.policy.sms_unknown_outcome != "retry":
            why = "interrupted while sending by SMS (a process stopped)"
            await self._unknown_outcome(entry, why, route=str(entry.route))
            return
        if reported(entry):
            await self._reported(entry, bot)
            return
        if entry.deadline_at is not None and entry.route == Channel.RCS and bot.rbm is not None:
            await self._deadline(entry, bot, bot.rbm)
        elif not await self._allowed(entry, bot):
            return
        elif self.credits is not None and await self.credits.spent(self.clock.now()):
            await self._mark(
                entry,
                OutboxStatus.QUEUED,
                due_at=self.clock.now() + CREDIT_WAIT,
                detail="prepaid credits spent (R8): waiting for a purchase",
            )
        elif entry.route in (Channel.SMS, Channel.T2C):
            await self._send_sms(entry, bot, None)
        elif entry.route == Channel.RCS and bot.rbm is not None:
            await self._send_rcs(entry, bot, bot.rbm)
        else:
            choice = await self.chooser.choose(entry, bot)
            if choice.channel is Channel.RCS and bot.rbm is not None:
                await self._send_rcs(entry, bot, bot.rbm)
            else:
                await self._send_sms(entry, bot, choice.reason)

    async def _allowed(self, entry: OutboxEntry, bot: BotChannels) -> bool:
        """The sending rules (compliance.gate): False when the entry was blocked or held."""
        if self.gate is None:
            return True
        now = self.clock.now()
        text = render_sms(CONTENT.validate_python(entry.content)).text
        decision = await self.gate.decide(entry, bot, text, now)
        if isinstance(decision, Block):
            await self._mark(entry, OutboxStatus.BLOCKED, detail=f"blocked: {decision.reason}")
            return False
        if isinstance(decision, Hold):
            await self._mark(
                entry,
                OutboxStatus.QUEUED,
                due_at=decision.until,
                valid_from=decision.until,  # its 24 h run from when it may leave (R4)
                detail=f"held: {decision.reason}",
            )
            return False
        return True

    # --- RCS ---------------------------------------------------------------------------------

    def _rbm_parts(self, entry: OutboxEntry, bot: BotChannels) -> list[dict[str, Any]]:
        content = CONTENT.validate_python(entry.content)
        # R4: RBM drops what it could not deliver before the validity ends, early enough for
        # the SMS to follow.
        ttl = remaining(entry.valid_since, self.clock.now()) - self.policy.sms_margin
        return render_rbm_messages(content, traffic=bot.traffic, ttl=max(ttl, MIN_TTL))

    async def _send_rcs(self, entry: OutboxEntry, bot: BotChannels, rbm: RbmClient) -> None:
        try:
            parts = self._rbm_parts(entry, bot)
        except ValueError as error:
            self.breakers[rbm.agent_id].settled()  # a probe that never went: free its slot
            await self._send_sms(entry, bot, f"cannot be sent by RCS: {error}")
            return
        # A media message with text goes as two RBM messages; the last one's id is the entry's,
        # since its DELIVERED means the whole content arrived. Recorded before the send, so
        # that a receipt racing the answer finds its message.
        ids = [rbm_message_id(f"{entry.key}/{index}") for index in range(len(parts))]
        if not await self._mark(
            entry, OutboxStatus.SENDING, route=Channel.RCS, provider_id=ids[-1], detail="by RCS"
        ):
            return
        try:
            for part, message_id in zip(parts, ids, strict=True):
                if bot.limiter is not None:
                    await bot.limiter.acquire()
                await rbm.send(entry.phone, part, message_id=message_id)
        except NotReachable as error:
            self.breakers[rbm.agent_id].succeeded()
            now = self.clock.now()
            self.capabilities.put(rbm.agent_id, entry.phone, now, reachable=False)
            await self._send_sms(entry, bot, f"not reachable by RCS (send: {error.status})")
        except Invalid as error:
            # rbm.md §9: content the device cannot show; the SMS rendering can (R20).
            self.breakers[rbm.agent_id].succeeded()
            await self._send_sms(entry, bot, f"RBM refused the content: {error}")
        except OutcomeUnknown as error:
            self._count(rbm, error)
            await self._retry(entry, error, route=Channel.RCS)  # RBM may have it: same id
        except (Transient, RateLimited) as error:
            self._count(rbm, error)
            # Routed `rcs` when claimed: an earlier send of it timed out or was interrupted
            # and RBM may still deliver that copy, so it stays on RCS (same id) rather than be
            # chosen again and maybe sent by SMS too (chaos.py --scenario rbm-faults).
            route = Channel.RCS if entry.route == Channel.RCS else UNROUTED
            await self._retry(entry, error, route=route)
        except ProviderError as error:
            # R20: a message that cannot go as RCS "for any reason" goes by SMS.
            self.breakers[rbm.agent_id].settled()
            await self._send_sms(entry, bot, f"RBM refused it: {error}")
        else:
            now = self.clock.now()
            self.breakers[rbm.agent_id].succeeded()
            await self.agents.sent(rbm.agent_id, now)
            # Billed once accepted, even if a receipt settled the entry meanwhile: a racing
            # DELIVERED makes the fenced write fail, not the message free.
            await self._mark(
                entry,
                OutboxStatus.SENT,
                detail="accepted by RBM",
                deadline_at=now + bot.rcs.fallback_after,
            )
            await self._bill(rcs_mt(entry.key, entry.bot_id, entry.phone, now, rbm.agent_id, parts))

    async def _deadline(self, entry: OutboxEntry, bot: BotChannels, rbm: RbmClient) -> None:
        """No DELIVERED within `fallback_after`: revoke. 200 means it will never be delivered:
        SMS after the grace; 404 means it was delivered (rbm.md §2)."""
        try:
            count = len(self._rbm_parts(entry, bot))
        except ValueError:
            count = 1
        ids = [rbm_message_id(f"{entry.key}/{index}") for index in range(count)]
        try:
            revoked = [await rbm.revoke(entry.phone, message_id) for message_id in ids]
        except (Transient, RateLimited) as error:
            self._count(rbm, error)
            delay = self.policy.retry.delay(entry.attempts, self.rng, _retry_after(error))
            await self._mark(
                entry,
                OutboxStatus.SENT,
                detail=f"revoke failed ({error}); again in {_seconds(delay)}",
                deadline_at=self.clock.now() + delay,
            )
            return
        except ProviderError as error:
            # 403: the agent may no longer act on this phone. Whether the message will arrive
            # cannot be known: waiting for a receipt never sends it twice.
            self.breakers[rbm.agent_id].settled()
            await self._mark(entry, OutboxStatus.SENT, detail=f"revoke refused ({error})")
            return
        self.breakers[rbm.agent_id].succeeded()
        if revoked[-1]:
            grace = self.policy.revoke_grace
            await self._mark(
                entry,
                OutboxStatus.REVOKED,
                route=bot.sms_line(entry.phone).channel,
                due_at=self.clock.now() + grace,
                detail=(
                    f"not delivered within {_seconds(bot.rcs.fallback_after)}: revoked,"
                    f" SMS in {_seconds(grace)}"
                ),
            )
        else:
            await self._mark(
                entry, OutboxStatus.DELIVERED, detail="revoke answered 404: already delivered"
            )

    # --- SMS ---------------------------------------------------------------------------------

    async def _send_sms(self, entry: OutboxEntry, bot: BotChannels, reason: str | None) -> None:
        line = bot.sms_line(entry.phone)
        channel = line.channel
        if self.smsmode is None:
            await self._mark(entry, OutboxStatus.FAILED, detail="no SMS provider configured")
            return
        reasons = [why for why in (reason, line.why) if why]
        detail = f"by SMS: {'; '.join(reasons)}" if reasons else "by SMS"
        # The last look at the fence before a send that cannot be taken back nor deduplicated.
        if not await self._mark(entry, OutboxStatus.SENDING, route=channel, detail=detail):
            return
        if self.gate is not None:
            refused = self.gate.sender_refused(line.sender, self.clock.now())
            if refused is not None:
                await self._mark(entry, OutboxStatus.BLOCKED, detail=f"blocked: {refused.reason}")
                return
        sms = self._sms(entry, bot)
        try:
            accepted = await self.smsmode.send_sms(
                entry.phone,
                sms.text,
                sender=line.sender,
                ref_client=entry.key,
                status_url=bot.status_url,
                mo_url=bot.mo_url,
            )
        except OutcomeUnknown as error:
            if self.policy.sms_unknown_outcome == "retry":
                await self._retry(entry, error, route=channel)
            else:
                await self._unknown_outcome(entry, str(error), route=channel)
        except (Transient, RateLimited) as error:
            await self._retry(entry, error, route=channel)
        except ProviderError as error:
            await self._mark(entry, OutboxStatus.FAILED, detail=str(error))
        else:
            now = self.clock.now()
            if await self._mark(
                entry,
                OutboxStatus.SENT,
                provider_id=accepted.message_id,
                detail="accepted by smsmode",
            ):
                await self._bill(sms_mt(entry, line, sms, now))

    def _sms(self, entry: OutboxEntry, bot: BotChannels) -> SmsMessage:
        """The SMS as it goes (or went) to smsmode, and is billed."""
        content = CONTENT.validate_python(entry.content)
        if self.gate is None and bot.traffic is TrafficType.PROMOTION:
            return render_sms(content, stop_mention=DEFAULT_STOP_MENTION)
        sms = render_sms(content)
        if self.gate is None:
            return sms
        # R25: a marketing SMS carries the STOP mention (where it fits, sms.md §3.2).
        text = self.gate.sms_text(entry, bot, sms.text)
        return replace(sms, text=text, segments=split(text))

    async def _unknown_outcome(self, entry: OutboxEntry, why: str, *, route: str) -> None:
        """Nobody knows whether smsmode took the SMS (store/unconfirmed_sms.py): `fail` ends it
        (never twice, maybe never); `confirm` waits for smsmode's report before sending again."""
        if self.policy.sms_unknown_outcome == "fail":
            await self._mark(
                entry,
                OutboxStatus.FAILED,
                detail=f"{why}: not sent again, smsmode may have sent it (no duplicate)",
            )
            return
        until = self.clock.now() + self.policy.sms_confirm_wait
        await self._mark(
            entry,
            OutboxStatus.QUEUED,
            route=route,
            due_at=until,
            detail=unconfirmed_detail(why, until.isoformat(timespec="seconds")),
        )

    async def _reported(self, entry: OutboxEntry, bot: BotChannels) -> None:
        """smsmode's report proved the unconfirmed send: recorded as sent and billed (R7), once."""
        line = bot.sms_line(entry.phone)
        if await self._mark(
            entry,
            OutboxStatus.SENT,
            provider_id=entry.provider_id,
            detail="sent: smsmode's report proved it (not sent again)",
        ):
            await self._bill(sms_mt(entry, line, self._sms(entry, bot), self.clock.now()))

    # --- shared ------------------------------------------------------------------------------

    async def _retry(self, entry: OutboxEntry, error: ProviderError, *, route: str) -> None:
        delay = self.policy.retry.delay(max(entry.attempts, 1), self.rng, _retry_after(error))
        await self._mark(
            entry,
            OutboxStatus.QUEUED,
            route=route,
            due_at=self.clock.now() + delay,
            detail=f"{error}; retry in {_seconds(delay)}",
        )

    async def _bill(self, mt: Mt) -> None:
        if self.billing is not None:
            await bill(self.billing, self.store, mt)

    def _count(self, rbm: RbmClient, error: ProviderError) -> None:
        self.chooser.count(rbm.agent_id, error)

    async def _mark(
        self,
        entry: OutboxEntry,
        status: OutboxStatus,
        *,
        detail: str,
        route: str | None = None,
        provider_id: str | None = None,
        due_at: datetime | None = None,
        deadline_at: datetime | None = None,
        valid_from: datetime | None = None,
    ) -> bool:
        """Write under this dispatcher's lease; False when the entry is no longer ours."""
        try:
            await self.store.mark_outbound(
                entry.key,
                status,
                self.clock.now(),
                provider_id=provider_id,
                detail=detail,
                route=route,
                due_at=due_at,
                deadline_at=deadline_at,
                owner=self.owner,
                valid_from=valid_from,
            )
        except LeaseLost:
            log.info("outbox %s was settled meanwhile (a receipt); left as it is", entry.key)
            return False
        return True


def _retry_after(error: ProviderError) -> timedelta | None:
    return error.retry_after if isinstance(error, RateLimited) else None


def _seconds(delay: timedelta) -> str:
    return f"{delay.total_seconds():g} s"
