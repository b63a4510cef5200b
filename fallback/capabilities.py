"""What this process knows of phones' RCS reachability, per agent, for a while.

Filled by capability checks (rbm.md §3.1) and by sends answered 404/403 (not reachable: no RCS,
or the agent not launched for the phone's carrier, rbm.md §6); trusted for `ttl`, since people
switch RCS on and carriers launch agents. In memory, bounded (least recently used forgotten
first): a cache, not state (DESIGN.md).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Reach:
    reachable: bool
    features: frozenset[str]
    checked_at: datetime


class CapabilityCache:
    def __init__(self, ttl: timedelta, size: int = 100_000) -> None:
        if size < 1:
            raise ValueError("the capability cache needs room for at least one phone")
        self.ttl = ttl
        self.size = size
        self._known: OrderedDict[tuple[str, str], Reach] = OrderedDict()

    def get(self, agent_id: str, phone: str, now: datetime) -> Reach | None:
        """What is known and still fresh, else None (check again)."""
        key = (agent_id, phone)
        reach = self._known.get(key)
        if reach is None:
            return None
        if now >= reach.checked_at + self.ttl:
            del self._known[key]
            return None
        self._known.move_to_end(key)
        return reach

    def put(
        self,
        agent_id: str,
        phone: str,
        now: datetime,
        *,
        reachable: bool,
        features: frozenset[str] = frozenset(),
    ) -> None:
        key = (agent_id, phone)
        self._known[key] = Reach(reachable, features, now)
        self._known.move_to_end(key)
        while len(self._known) > self.size:
            self._known.popitem(last=False)
