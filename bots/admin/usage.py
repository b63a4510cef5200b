"""Usage: a bot's billing report of a calendar month (docs/billing.md)."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bots.admin.operations import Admin, Answer, Operation, query_of
from sessions.policy import BillingPolicy
from sessions.report import DELIVERY_LAG, month_bounds, monthly_report, report_json


class UsageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Years bounded: a report reads the month after too, and datetime stops at 1 and 9999.
    month: str = Field(
        pattern=r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$", description="YYYY-MM (Paris), 1900 to 2099."
    )


async def usage(admin: Admin, request: web.Request) -> web.Response:
    """The bot's billing report of a calendar month (`?month=YYYY-MM`), as
    `causette billing report --format json` prints it."""
    bot = admin.bot(request)
    month = query_of(request, UsageQuery).month
    billing = admin.runtime.billing
    policy = billing.policy if billing is not None else BillingPolicy()
    start, end = month_bounds(month, policy)
    entries = await admin.runtime.store.ledger(since=start - DELIVERY_LAG, until=end, bot_id=bot)
    report = monthly_report(entries, month, policy, bot_id=bot)
    return web.json_response(report_json(report))


OPERATIONS = (
    Operation(
        "GET",
        "/bots/{bot}/usage",
        "usage",
        "A bot's billing report for a calendar month",
        usage,
        (Answer(200, "The report (as `causette billing report --format json`).", None),),
        description=(
            "Totals by channel and class, sessions opened, messages per session and operator"
            " shares, exact decimal amounts as strings (docs/billing.md)."
        ),
        query=UsageQuery,
    ),
)
