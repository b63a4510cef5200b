"""Whether an RBM agent may send: registered and launched, not suspended, and not inactive.

R19: an agent that sent no message for six months may be deactivated by the operator. The
router treats such an agent as deactivated before the operator does (its messages go by SMS,
R20) until an admin records its re-validation (`AgentRecord.reactivated_at`). An agent never
seen before is usable: its first send creates its record.

What the store says is read at most once per `ttl` per process, and a send is written back at
most once per `record_every`: six months of inactivity do not need a write per message.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from messaging.clock import add_months
from store.base import Store
from store.records import AgentRecord, AgentState

INACTIVE_AFTER_MONTHS = 6
"""R19."""


def unusable_reason(record: AgentRecord | None, now: datetime) -> str | None:
    """Why this agent may not send by RCS now, or None when it may."""
    if record is None:
        return None
    if record.state is AgentState.SUSPENDED:
        return "RCS agent suspended"
    if record.state is AgentState.UNLAUNCHED:
        return "RCS agent not launched"
    active = [when for when in (record.last_sent_at, record.reactivated_at) if when is not None]
    if active and now >= add_months(max(active), INACTIVE_AFTER_MONTHS):
        last = max(active).date().isoformat()
        return f"RCS agent inactive: nothing sent since {last}, six months or more (R19)"
    return None


@dataclass
class _Known:
    record: AgentRecord | None
    read_at: datetime
    recorded_at: datetime | None = None
    """When this process last wrote a send of this agent to the store."""


class AgentStatuses:
    def __init__(
        self, store: Store, ttl: timedelta, record_every: timedelta = timedelta(hours=1)
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.record_every = record_every
        self._known: dict[str, _Known] = {}

    async def unusable_reason(self, agent_id: str, now: datetime) -> str | None:
        known = self._known.get(agent_id)
        if known is None or now >= known.read_at + self.ttl:
            record = await self.store.get_agent(agent_id)
            recorded_at = known.recorded_at if known is not None else None
            known = self._known[agent_id] = _Known(record, now, recorded_at)
        return unusable_reason(known.record, now)

    async def sent(self, agent_id: str, now: datetime) -> None:
        """An RCS message of this agent was accepted by RBM."""
        known = self._known.get(agent_id)
        recorded = known.recorded_at if known is not None else None
        if recorded is not None and now < recorded + self.record_every:
            return
        await self.store.record_agent_send(agent_id, now)
        if known is None:
            self._known[agent_id] = _Known(None, datetime.min.replace(tzinfo=now.tzinfo), now)
            return
        known.recorded_at = now
        if known.record is not None:
            last = known.record.last_sent_at
            known.record = replace(known.record, last_sent_at=max(last or now, now))
