"""Events and times for the billing rules' tests: French mobiles, Paris wall clocks."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sessions.events import Mo, Mt
from sessions.policy import PARIS
from store.billing_records import LedgerEntry, LedgerKind

PERSON = "+33612345678"
"""A metropolitan French mobile (R10)."""
BELGIAN = "+32470123456"
NUMBER_09 = "+33912345678"
AGENT = "causette_agent"
BOT = "bot-1"


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0, **kw: Any) -> datetime:
    """A Paris wall-clock time (`fold=1` picks the second 02:30 of the fall-back night)."""
    return datetime(year, month, day, hour, minute, tzinfo=PARIS, **kw)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def t2c_mo(key: str, at: datetime, recipient: str = PERSON) -> Mo:
    return Mo(key, BOT, recipient, at, "t2c", NUMBER_09)


def t2c_mt(
    key: str, at: datetime, *, segments: int = 1, characters: int = 40, recipient: str = PERSON
) -> Mt:
    return Mt(
        key,
        BOT,
        recipient,
        at,
        "t2c",
        NUMBER_09,
        "t2c_number",
        segments=segments,
        characters=characters,
    )


def rcs_mt(key: str, at: datetime, *, rich: bool = False, size: int = 20) -> Mt:
    return Mt(
        key,
        BOT,
        PERSON,
        at,
        "rcs",
        AGENT,
        "rcs_agent",
        rich=rich,
        text_bytes=size,
        text_characters=size,
    )


def rcs_mo(key: str, at: datetime) -> Mo:
    return Mo(key, BOT, PERSON, at, "rcs", AGENT)


def sms_mt(
    key: str,
    at: datetime,
    *,
    recipient: str = PERSON,
    sender: str = "CAUSETTE",
    sender_type: str = "sender_id",
    channel: str = "sms",
    segments: int = 1,
    fallback: bool = False,
) -> Mt:
    return Mt(
        key,
        BOT,
        recipient,
        at,
        channel,
        sender,
        sender_type,
        segments=segments,
        characters=segments * 150,
        fallback=fallback,
    )


def ledger_entry(
    entry_id: str,
    at: datetime,
    amount: str,
    *,
    billing_class: str = "t2c_mt",
    quantity: int = 1,
    bot_id: str = BOT,
    channel: str = "t2c",
    kind: LedgerKind = LedgerKind.MESSAGE,
    delivered_at: datetime | None = None,
    operator: str | None = None,
    country: str = "FR",
    currency: str = "EUR",
    session_id: str | None = None,
) -> LedgerEntry:
    """An entry as the ledger holds it; `amount` is the unit price."""
    return LedgerEntry(
        id=entry_id,
        kind=kind,
        billing_class=billing_class,
        bot_id=bot_id,
        sender=NUMBER_09,
        sender_type="t2c_number",
        recipient=PERSON,
        channel=channel,
        country=country,
        quantity=quantity,
        unit_price=Decimal(amount),
        currency=currency,
        at=at,
        rule="test",
        message_key=entry_id,
        session_id=session_id,
        delivered_at=delivered_at,
        operator=operator,
    )
