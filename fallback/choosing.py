"""Which channel a message takes (R17, R19, R20): the agent's state, what is known of the
phone's reach, RBM's health. The memory of the last two (capability cache, breakers) lives here,
per process: it is a cache of the providers' state, not state to keep (DESIGN.md)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from agents.errors import NotReachable, ProviderError, RateLimited, Transient
from agents.rbm import RbmClient
from fallback.agent_status import AgentStatuses
from fallback.breaker import Breakers
from fallback.capabilities import CapabilityCache
from fallback.channels import BotChannels
from fallback.policy import DispatchPolicy
from messaging.channel import Channel
from messaging.clock import Clock
from messaging.phone import Phone
from store.base import Store
from store.records import OutboxEntry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Choice:
    channel: Channel
    reason: str
    """Why, for the entry's history: `RCS` or the reason it goes by SMS instead."""


class Chooser:
    def __init__(self, store: Store, clock: Clock, policy: DispatchPolicy) -> None:
        self.clock = clock
        self.policy = policy
        self.breakers = Breakers(policy.breaker)
        self.capabilities = CapabilityCache(policy.capability_ttl, policy.capability_cache_size)
        self.agents = AgentStatuses(store, policy.agent_status_ttl)

    async def choose(self, entry: OutboxEntry, bot: BotChannels) -> Choice:
        """RCS when the conversation is on RCS, the agent is usable, RBM is up and the phone
        can take it; SMS otherwise, with the reason (R17, R19, R20)."""
        sms = bot.sms_line(entry.phone).channel
        if entry.channel != Channel.RCS:
            return Choice(sms, f"conversation on {entry.channel}")
        if bot.rbm is None:
            return Choice(sms, "bot has no RCS agent")
        now = self.clock.now()
        agent = bot.rbm.agent_id
        unusable = await self.agents.unusable_reason(agent, now)
        if unusable is not None:
            return Choice(sms, unusable)
        known = self.capabilities.get(agent, entry.phone, now)
        if known is not None and not known.reachable:
            return Choice(sms, f"not reachable by RCS (known since {_clock(known.checked_at)})")
        if not self.breakers[agent].allows(now):
            return Choice(sms, "RBM unavailable (breaker open)")
        if known is None and self.policy.capability_check:
            return await self._check(entry, bot, bot.rbm)
        return Choice(Channel.RCS, "RCS")

    async def _check(self, entry: OutboxEntry, bot: BotChannels, rbm: RbmClient) -> Choice:
        now, agent = self.clock.now(), rbm.agent_id
        try:
            features = await rbm.capabilities(entry.phone, request_id=str(uuid.uuid4()))
        except NotReachable as error:
            self.breakers[agent].succeeded()
            self.capabilities.put(agent, entry.phone, now, reachable=False)
            return Choice(
                bot.sms_line(entry.phone).channel,
                f"not reachable by RCS (capability check: {error.status})",
            )
        except ProviderError as error:
            # The send will tell: the breaker counts this failure, the message still tries RCS.
            self.count(rbm.agent_id, error)
            log.info("capability check for %s failed: %s", _masked(entry), error)
            return Choice(Channel.RCS, "RCS")
        self.breakers[agent].succeeded()
        self.capabilities.put(agent, entry.phone, now, reachable=True, features=features)
        return Choice(Channel.RCS, "RCS")

    def count(self, agent_id: str, error: ProviderError) -> None:
        """What an RBM failure says of RBM's health: 429 nothing, 5xx and timeouts a failure."""
        breaker = self.breakers[agent_id]
        if isinstance(error, RateLimited):
            breaker.settled()
        elif isinstance(error, Transient):
            breaker.failed(self.clock.now())
        else:
            breaker.succeeded()


def _clock(instant: datetime) -> str:
    return instant.isoformat(timespec="seconds")


def _masked(entry: OutboxEntry) -> str:
    return Phone(entry.phone).masked
