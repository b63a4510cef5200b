"""Prometheus metrics of a runtime, served at `/metrics`.

Depths are read from the store when scraped (they are facts of the shared store, not of this
process); turn counts and latencies are this process's.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bots.runtime import Runtime
from store.records import OutboxStatus


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.turns = Counter(
            "causette_turns", "Conversation turns committed by this process", registry=self.registry
        )
        self.turn_seconds = Histogram(
            "causette_turn_seconds",
            "Time from claiming an event to committing its turn",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.inbox_depth = Gauge(
            "causette_inbox_depth", "Inbound events not yet handled", registry=self.registry
        )
        self.outbox_depth = Gauge(
            "causette_outbox_depth",
            "Outgoing messages by status",
            ["status"],
            registry=self.registry,
        )
        self.timer_lag = Gauge(
            "causette_timer_lag_seconds",
            "How late the most overdue timer is",
            registry=self.registry,
        )

    def observe_turn(self, seconds: float) -> None:
        self.turns.inc()
        self.turn_seconds.observe(seconds)

    async def render(self, runtime: Runtime) -> bytes:
        """Refresh the store-wide gauges, then the exposition text."""
        self.inbox_depth.set(await runtime.store.inbox_depth())
        depths = await runtime.store.outbox_depth()
        for status in OutboxStatus:
            self.outbox_depth.labels(status=status.value).set(depths.get(status, 0))
        self.timer_lag.set((await runtime.timers.lag()).total_seconds())
        return generate_latest(self.registry)
