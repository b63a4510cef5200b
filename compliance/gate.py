"""The send gate: may this one message leave now? (R6, R25, R28, R30; sms.md §3.3)

A pure decision over what the caller already knows (the store lookups are done before, the
clock read is `now`). Checks run in this order, and the first that fails decides:

1. red list (R6): blocks everything, marketing or transactional, even a reply: the number
   wants no message at all from this business;
2. opt-out (R25): blocks marketing; transactional messages (an appointment, an order) still go;
3. consent (R30): blocks marketing to a contact without consent, when consent is required
   (`consent` None means the caller has a lawful basis that needs none, e.g. an existing
   customer, sms.md §3.4);
4. links (R28): blocks a templated text whose links operators would block as smishing. Only
   templated texts: the business wrote them, and a fix belongs there; a free reply is checked
   by whoever wrote it;
5. quiet hours (sms.md §3.3): holds marketing until the next allowed time, except a reply in a
   conversation the recipient started.

Blocks come before the hold so that a message that may never go is not held for nothing. The
24-hour validity (R4) is the dispatcher's check (`compliance.validity`), not repeated here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from compliance.quiet_hours import QuietHours
from compliance.urls import UrlPolicy

Traffic = Literal["marketing", "transactional"]


@dataclass(frozen=True)
class Outgoing:
    """One message about to leave, with what the gate needs to know about it."""

    traffic: Traffic
    phone: str
    """E.164; identifies the message, never shown in a reason (personal data)."""
    text: str
    """The SMS rendering, or the RCS text: what the links are read from."""
    now: datetime
    templated: bool = True
    """The text came from a template the business wrote."""
    recipient_started: bool = False
    """A reply inside a conversation the recipient started."""
    opted_out: bool = False
    red_listed: bool = False
    consent: bool | None = None
    """Marketing consent; None when consent is not required."""


@dataclass(frozen=True)
class GatePolicy:
    quiet_hours: QuietHours = field(default_factory=QuietHours)
    urls: UrlPolicy = field(default_factory=UrlPolicy)


@dataclass(frozen=True)
class Send:
    """The message may leave now."""


@dataclass(frozen=True)
class Hold:
    """The message must wait until `until` (UTC), then be asked about again."""

    until: datetime
    reason: str


@dataclass(frozen=True)
class Block:
    """The message must not be sent; `rule` is the seed rule number (`R6`...)."""

    reason: str
    rule: str


Decision = Send | Hold | Block


def decide(message: Outgoing, policy: GatePolicy) -> Decision:
    """Send, hold or block `message` under `policy` (order of checks: module docstring)."""
    marketing = message.traffic == "marketing"
    if message.red_listed:
        return Block("The number is on the business's red list: nothing may go to it (R6).", "R6")
    if marketing and message.opted_out:
        return Block("The recipient opted out (STOP): no marketing may go to them (R25).", "R25")
    if marketing and message.consent is False:
        return Block(
            "The recipient has not consented to marketing, which needs prior consent (R30).",
            "R30",
        )
    if message.templated:
        problems = policy.urls.problems(message.text)
        if problems:
            return Block(" ".join(problems), "R28")
    quiet = policy.quiet_hours
    if marketing and not message.recipient_started and not quiet.allowed(message.now):
        until = quiet.next_allowed(message.now)
        return Hold(
            until,
            f"Marketing goes out only {quiet.describe()} (sms.md §3.3): held until "
            f"{until.astimezone(quiet.timezone):%A %d %B %Y %H:%M} {quiet.timezone.key}.",
        )
    return Send()
