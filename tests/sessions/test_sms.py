"""Plain SMS (per segment) and who Time2Chat may reach (R10, R20)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sessions.classes import BillingClass
from sessions.policy import BillingPolicy, PriceTable
from sessions.sms import sms_entry, t2c_allowed
from store.billing_records import LedgerKind
from tests.sessions.factories import BELGIAN, NUMBER_09, PERSON, paris, sms_mt, t2c_mt

POLICY = BillingPolicy()
AT = paris(2026, 11, 3, 10)


@pytest.mark.parametrize(
    ("recipient", "allowed"),
    [
        (PERSON, True),  # 06: Orange, SFR, Bouygues or Free
        ("+33756123456", True),  # 07
        ("06 12 34 56 78", True),
        (BELGIAN, False),  # a Belgian mobile
        ("+33140000000", False),  # a Paris landline
        (NUMBER_09, False),  # a 09 number
        ("+590690123456", False),  # Guadeloupe: not one of the four metropolitan networks
        ("+262692123456", False),  # La Réunion
        ("+596696123456", False),  # Martinique
        ("+594694123456", False),  # Guyane
        ("+336", False),  # not a number
        ("", False),
    ],
)
def test_t2c_reaches_metropolitan_french_mobiles_only(recipient: str, allowed: bool) -> None:
    """R10."""
    assert t2c_allowed(recipient) is allowed


def test_t2c_towards_a_belgian_mobile_goes_as_sms_per_segment() -> None:
    """R10: not a French operator, so plain SMS from the 09 number, billed per segment at
    Belgium's price."""
    policy = BillingPolicy(
        prices=PriceTable({"BE": {BillingClass.SMS_MT: Decimal("0.075")}, "*": {}})
    )
    mt = sms_mt(
        "mt-1", AT, recipient=BELGIAN, sender=NUMBER_09, sender_type="t2c_number", segments=2
    )
    assert not t2c_allowed(BELGIAN)

    entry = sms_entry(mt, policy)

    assert entry.id == "message:mt-1"
    assert entry.kind is LedgerKind.MESSAGE
    assert entry.billing_class == BillingClass.SMS_MT
    assert (entry.country, entry.channel, entry.sender_type) == ("BE", "sms", "t2c_number")
    assert (entry.quantity, entry.unit_price, entry.amount) == (
        2,
        Decimal("0.075"),
        Decimal("0.150"),
    )
    assert "R10" in entry.rule


def test_a_senderid_sms_is_billed_per_segment() -> None:
    entry = sms_entry(sms_mt("mt-1", AT, segments=3), POLICY)

    assert (entry.billing_class, entry.quantity, entry.amount) == (
        BillingClass.SMS_MT,
        3,
        Decimal("0.135"),
    )
    assert (entry.sender, entry.sender_type) == ("CAUSETTE", "sender_id")
    assert "SenderID CAUSETTE" in entry.rule
    assert "3 segments" in entry.rule


def test_the_default_sender() -> None:
    entry = sms_entry(sms_mt("mt-1", AT, sender="", sender_type="default"), POLICY)

    assert "default sender" in entry.rule
    assert "1 segment" in entry.rule


@pytest.mark.parametrize("channel", ["sms", "t2c"])
def test_an_rcs_message_sent_by_sms_is_billed_as_sms(channel: str) -> None:
    """R20: whichever line carried it (a SenderID, or the 09 number towards a French mobile),
    a fallback is an SMS, never a T2C MT nor covered by a T2C session."""
    mt = sms_mt(
        "mt-1", AT, channel=channel, sender=NUMBER_09, sender_type="t2c_number", fallback=True
    )

    entry = sms_entry(mt, POLICY)

    assert entry.billing_class == BillingClass.SMS_MT
    assert entry.channel == channel
    assert "R20" in entry.rule


def test_zero_segments_still_bill_one() -> None:
    """R7: a message submitted is billed, even one whose text came out empty."""
    assert sms_entry(sms_mt("mt-1", AT, segments=0), POLICY).quantity == 1


def test_an_invalid_number_is_still_billed_by_its_country_code() -> None:
    """R7: billed even when the number turns out invalid."""
    assert sms_entry(sms_mt("mt-1", AT, recipient="+3361234"), POLICY).country == "FR"
    assert sms_entry(sms_mt("mt-2", AT, recipient="garbage"), POLICY).country == ""


def test_a_t2c_message_is_not_a_plain_sms() -> None:
    with pytest.raises(ValueError, match="not an SMS"):
        sms_entry(t2c_mt("mt-1", AT), POLICY)
