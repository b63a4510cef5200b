"""Building ledger entries: the recipient's region, the price line, times kept in tracker state.

Shared by the trackers (`sessions.t2c`, `sessions.rcs`, `sessions.sms`, `sessions.monthly`) so
that every entry is priced and dated the same way. Pure: no store, no clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import phonenumbers

from messaging.phone import InvalidPhoneError, Phone
from sessions.classes import BillingClass
from sessions.events import Mo, Mt
from sessions.policy import BillingPolicy
from store.billing_records import LedgerEntry, LedgerKind

DAY = timedelta(hours=24)
"""R22's window (rbm.md §8.1) and R4's validity: 24 hours of elapsed time, not a local day."""


def country_of(recipient: str) -> str:
    """The recipient's ISO 3166 region (`FR`, `GP`, `BE`), which picks the price line.

    R7 bills a message even when its number turns out invalid, so this never raises: an
    invalid number is priced by its country code when it has one, else by the `*` line ("")."""
    try:
        return Phone(recipient).region or ""
    except InvalidPhoneError:
        pass
    try:
        number = phonenumbers.parse(recipient, None)
    except phonenumbers.NumberParseException:
        return ""
    if number.country_code is None:
        return ""
    region = str(phonenumbers.region_code_for_country_code(number.country_code))
    return "" if region == "ZZ" else region


def aware(at: datetime, what: str) -> datetime:
    """`at`, refused when naive: a local day (R16) or 24 h (R22) means nothing without a zone."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {at.isoformat()}")
    return at


def in_utc(at: datetime, what: str) -> datetime:
    """`at` (aware) in UTC, where the trackers compute. Python adds and compares two times of
    the same `tzinfo` on their wall clocks: `Paris 00:00 + 24 h` on a DST night would be 23 or
    25 real hours, and the two 02:30 of the fall-back night would compare equal."""
    return aware(at, what).astimezone(UTC)


def to_json(at: datetime) -> str:
    """An instant as tracker state keeps it: ISO 8601 in UTC, with its offset."""
    return in_utc(at, "a time kept in billing state").isoformat()


def from_json(value: str) -> datetime:
    return in_utc(datetime.fromisoformat(value), f"billing state time {value!r}")


def local_text(at: datetime, policy: BillingPolicy) -> str:
    """`2026-11-04 00:00 Europe/Paris`: how a rule's text names an instant."""
    return f"{at.astimezone(policy.timezone):%Y-%m-%d %H:%M} {policy.timezone.key}"


def make_entry(
    entry_id: str,
    kind: LedgerKind,
    billing_class: BillingClass,
    *,
    bot_id: str,
    sender: str,
    sender_type: str,
    recipient: str,
    channel: str,
    at: datetime,
    rule: str,
    policy: BillingPolicy,
    quantity: int = 1,
    message_key: str | None = None,
    session_id: str | None = None,
    country: str | None = None,
) -> LedgerEntry:
    """One entry priced from the policy's table; a covered message costs 0 whatever the table
    says (R15, R22: the session's fee pays for it)."""
    region = country_of(recipient) if country is None else country
    price = (
        Decimal(0)
        if billing_class is BillingClass.COVERED
        else policy.prices.price(region, billing_class)
    )
    return LedgerEntry(
        id=entry_id,
        kind=kind,
        billing_class=billing_class.value,
        bot_id=bot_id,
        sender=sender,
        sender_type=sender_type,
        recipient=recipient,
        channel=channel,
        country=region,
        quantity=quantity,
        unit_price=price,
        currency=policy.prices.currency,
        at=aware(at, "a ledger entry's time"),
        rule=rule,
        message_key=message_key,
        session_id=session_id,
    )


def mt_entry(
    mt: Mt,
    billing_class: BillingClass,
    rule: str,
    policy: BillingPolicy,
    *,
    quantity: int = 1,
    session_id: str | None = None,
    channel: str | None = None,
) -> LedgerEntry:
    """The entry of one message sent: id `message:{outbox key}`, so a replay collapses."""
    return make_entry(
        f"message:{mt.key}",
        LedgerKind.MESSAGE,
        billing_class,
        bot_id=mt.bot_id,
        sender=mt.sender,
        sender_type=mt.sender_type,
        recipient=mt.recipient,
        channel=mt.channel if channel is None else channel,
        at=mt.at,
        rule=rule,
        policy=policy,
        quantity=quantity,
        message_key=mt.key,
        session_id=session_id,
    )


def session_entry(
    event: Mt | Mo,
    session_id: str,
    billing_class: BillingClass,
    sender_type: str,
    rule: str,
    policy: BillingPolicy,
) -> LedgerEntry:
    """The entry of a session opened by `event`: id `session:{session_id}`."""
    return make_entry(
        f"session:{session_id}",
        LedgerKind.SESSION,
        billing_class,
        bot_id=event.bot_id,
        sender=event.sender,
        sender_type=sender_type,
        recipient=event.recipient,
        channel=event.channel,
        at=event.at,
        rule=rule,
        policy=policy,
        message_key=event.key,
        session_id=session_id,
    )


def counted_at(entry: LedgerEntry, policy: BillingPolicy) -> datetime | None:
    """When `entry` counts (reports, credits): its time (R7: submitted), or its delivery for
    the classes `policy.count_at` bills on delivery; None while such an entry is undelivered.
    A class this version does not know counts when submitted."""
    try:
        billing_class = BillingClass(entry.billing_class)
    except ValueError:
        return entry.at
    if policy.moment(billing_class) == "delivered":
        return entry.delivered_at
    return entry.at
