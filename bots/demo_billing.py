"""The demo's billing panel: for each phone of the simulator, the sessions open and what the
business has paid so far (`GET /api/billing`, read by the phone simulator's page)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from messaging.clock import Clock
from sessions.billing import Billing, rcs_key, t2c_key
from sessions.report import money
from store.base import Store

_LABELS = {"t2c": "Time2Chat", "rcs": "RCS"}


def add_billing_panel(
    app: web.Application, store: Store, billing: Billing, clock: Clock, phones: Iterable[str]
) -> None:
    numbers = tuple(phones)

    async def panel(_: web.Request) -> web.Response:
        return web.json_response(await billing_panel(store, billing, clock.now(), numbers))

    app.router.add_get("/api/billing", panel)


async def billing_panel(
    store: Store, billing: Billing, now: datetime, phones: tuple[str, ...]
) -> dict[str, Any]:
    costs: dict[str, Decimal] = {phone: Decimal(0) for phone in phones}
    for entry in await store.ledger(until=now):
        if entry.recipient in costs:
            costs[entry.recipient] += entry.amount
    view: dict[str, Any] = {}
    for phone in phones:
        sessions = []
        for bot in billing.bots.values():
            keys = []
            if bot.t2c_number:
                keys.append(("t2c", t2c_key(bot.t2c_number, phone)))
            if bot.agent_id:
                keys.append(("rcs", rcs_key(bot.agent_id, phone)))
            for channel, key in keys:
                state = await store.get_billing_state(key)
                session = (state.data.get("session") if state else None) or {}
                until = session.get("until")
                if until and datetime.fromisoformat(until) > now:
                    sessions.append({"label": _LABELS[channel], "until": until})
        view[phone] = {
            "sessions": sessions,
            "cost": money(costs[phone]),
            "currency": billing.policy.prices.currency,
        }
    return {"phones": view}
