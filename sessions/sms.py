"""Plain SMS: billed per segment, whoever sent it (a SenderID, the default sender, an RCS
message that fell back to SMS, a 09 number towards a recipient Time2Chat cannot reach)."""

from __future__ import annotations

import phonenumbers

from messaging.phone import InvalidPhoneError, Phone
from sessions.classes import BillingClass
from sessions.entries import mt_entry
from sessions.events import Mt
from sessions.policy import BillingPolicy
from store.billing_records import LedgerEntry


def t2c_allowed(recipient: str) -> bool:
    """R10: Time2Chat reaches only the four French mobile operators, that is a metropolitan
    French mobile number (+33 6, +33 7). The overseas departments (+590, +594, +596, +262...)
    are other regions for `phonenumbers`, so they are refused like any foreign number."""
    try:
        phone = Phone(recipient)
    except InvalidPhoneError:
        return False
    if phone.region != "FR":
        return False
    number = phonenumbers.parse(phone.e164, None)
    return bool(phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE)


def sms_entry(mt: Mt, policy: BillingPolicy) -> LedgerEntry:
    """The entry of an SMS: class `sms_mt`, quantity = its segments (R7: every segment
    submitted is billed). The rule text says why it went as plain SMS."""
    if not (mt.fallback or mt.channel == "sms"):
        raise ValueError(
            f"message {mt.key} went on {mt.channel!r}: not an SMS "
            "(Time2Chat and RCS messages go to their trackers)"
        )
    segments = max(mt.segments, 1)
    return mt_entry(mt, BillingClass.SMS_MT, _why(mt, segments), policy, quantity=segments)


def _why(mt: Mt, segments: int) -> str:
    per = f"{segments} segment" + ("s" if segments > 1 else "")
    if mt.fallback:
        # The router may send a fallback from the 09 number (a French mobile can answer it):
        # still an RCS message in the operator's eyes, billed as SMS (events.Mt.fallback).
        return f"RCS message sent by SMS (R20), billed as SMS: {per}"
    if mt.sender_type == "t2c_number":
        return (
            "Time2Chat only towards the four French operators (R10): "
            f"plain SMS from the 09 number, {per}"
        )
    if mt.sender_type == "sender_id":
        return f"SMS from SenderID {mt.sender} (R27), billed per segment (R7): {per}"
    return f"SMS from the provider's default sender, billed per segment (R7): {per}"
