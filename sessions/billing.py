"""The ledger's writer: each message sent or received goes to its tracker, and what the tracker
decides (its new state and the ledger entries) is written as one unit by the store.

The trackers are pure (`sessions.t2c`, `sessions.rcs`, `sessions.sms`, `sessions.monthly`);
this module only routes an event to its tracker and keeps their state, with compare-and-set:
two processes billing the same pair at once both get their entries, one after the other.
Replays (a duplicate webhook, a crash and its replay) add nothing: entry ids are derived from
the event (`message:{outbox key}`, `session:t2c:{MO id}`...), and the store skips known ids.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sessions.events import Mo, Mt
from sessions.monthly import active_agent_entry
from sessions.policy import BillingPolicy
from sessions.rcs import rcs_settle, rcs_step
from sessions.sms import sms_entry
from sessions.t2c import t2c_step
from store.base import Store
from store.billing_records import BillingState, LedgerEntry

log = logging.getLogger(__name__)

ATTEMPTS = 20
"""Compare-and-set rounds before giving up on a pair (only a storm of writers gets there)."""

Step = Callable[[dict[str, Any] | None], tuple[dict[str, Any], list[LedgerEntry]]]


class BillingConflict(Exception):
    """A tracker's state kept changing under us: the event was not billed."""


@dataclass(frozen=True, slots=True)
class BotBilling:
    """What billing needs to know of one bot."""

    agent_id: str | None = None
    t2c_number: str | None = None
    conversational: bool = False
    """The RCS agent's billing category (rbm.md §8.1): conversational, or not (the default)."""


def t2c_key(number: str, recipient: str) -> str:
    return f"t2c:{number}:{recipient}"


def rcs_key(agent_id: str, recipient: str) -> str:
    return f"rcs:{agent_id}:{recipient}"


class Billing:
    def __init__(self, store: Store, policy: BillingPolicy, bots: Mapping[str, BotBilling]) -> None:
        self.store = store
        self.policy = policy
        self.bots = dict(bots)
        self._months: set[str] = set()
        """Active-agent fees this process already wrote (R24: once a month; the id makes a
        second write harmless, this only saves it)."""

    async def on_mt(self, mt: Mt) -> None:
        """A message was handed to a provider (R7)."""
        if mt.fallback or mt.channel == "sms":
            await self.store.commit_billing(None, [sms_entry(mt, self.policy)])
        elif mt.channel == "t2c":
            await self._step(
                t2c_key(mt.sender, mt.recipient), lambda state: t2c_step(state, mt, self.policy)
            )
        elif mt.channel == "rcs":
            conversational = self._conversational(mt.bot_id)
            await self._step(
                rcs_key(mt.sender, mt.recipient),
                lambda state: rcs_step(state, mt, self.policy, conversational=conversational),
            )
            await self._agent_month(mt)

    async def on_mo(self, mo: Mo) -> None:
        """The person wrote (to the bot's agent or 09 number)."""
        if mo.channel == "t2c":
            await self._step(
                t2c_key(mo.sender, mo.recipient), lambda state: t2c_step(state, mo, self.policy)
            )
        elif mo.channel == "rcs":
            conversational = self._conversational(mo.bot_id)
            await self._step(
                rcs_key(mo.sender, mo.recipient),
                lambda state: rcs_step(state, mo, self.policy, conversational=conversational),
            )

    def mo_sender(self, bot_id: str, channel: str) -> str | None:
        """What the person wrote to on `channel`: the bot's agent id or 09 number."""
        bot = self.bots.get(bot_id)
        if bot is None:
            return None
        return bot.agent_id if channel == "rcs" else bot.t2c_number if channel == "t2c" else None

    async def settle(self, now: datetime, limit: int = 1000) -> int:
        """Bill the RCS messages whose 24 h passed without a reply (R22), for up to `limit`
        pairs (the soonest due first); returns how many pairs were looked at."""
        due = await self.store.billing_states_due("rcs:", now, limit)
        for state in due:
            await self._step(state.key, lambda data: rcs_settle(data, now, self.policy))
        return len(due)

    def _conversational(self, bot_id: str) -> bool:
        bot = self.bots.get(bot_id)
        return bot is not None and bot.conversational

    async def _agent_month(self, mt: Mt) -> None:
        entry = active_agent_entry(mt.sender, mt.bot_id, mt.at, self.policy)
        if entry.id in self._months:
            return
        await self.store.commit_billing(None, [entry])
        self._months.add(entry.id)

    async def _step(self, key: str, step: Step) -> None:
        for _ in range(ATTEMPTS):
            stored = await self.store.get_billing_state(key)
            data, entries = step(dict(stored.data) if stored is not None else None)
            version = stored.version + 1 if stored is not None else 1
            if await self.store.commit_billing(BillingState(key, data, version), entries):
                return
        raise BillingConflict(f"billing state {key} kept changing; event not billed")
