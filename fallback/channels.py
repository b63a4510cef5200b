"""How one bot reaches people: its RBM agent, its Time2Chat number or SenderID, its rules.

`bots.wiring` builds one `BotChannels` per bot of `bots.yaml`; the router reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiolimiter import AsyncLimiter

from agents.rbm import RbmClient
from agents.smsmode import t2c_sender
from fallback.policy import RcsPolicy
from messaging.channel import Channel
from messaging.renderers.rbm import TrafficType
from sessions.sms import t2c_allowed


@dataclass(frozen=True, slots=True)
class BotChannels:
    rbm: RbmClient | None = None
    """The bot's RBM agent, when it has one."""
    t2c_number: str | None = None
    """The bot's 09 number (E.164), for Time2Chat."""
    sms_sender: str | None = None
    """The bot's SenderID, for one-way SMS when it has no 09 number."""
    traffic: TrafficType = TrafficType.TRANSACTION
    rcs: RcsPolicy = field(default_factory=RcsPolicy)
    status_url: str | None = None
    """Where smsmode posts delivery reports for this bot."""
    mo_url: str | None = None
    """Where smsmode posts replies for this bot."""
    business: str = "default"
    """Who the bot's opt-outs and red list belong to (R6, R25)."""
    consent_field: str | None = None
    """The contact field recording an opt-in, when marketing needs one (R30)."""
    limiter: AsyncLimiter | None = None
    """Paces the agent's sends (`RcsPolicy.rate` per second); None: unpaced."""

    def sms_line(self, recipient: str) -> SmsLine:
        """How an SMS to `recipient` goes (R20: from the sender configured for the bot).

        The 09 number whenever the bot has one and the recipient is on a French mobile
        network: an SMS with numbered choices must come from a number the person can answer,
        which a SenderID is not. Time2Chat works only towards the four French operators (R10):
        anyone else gets plain SMS from the SenderID (or smsmode's default sender)."""
        if self.t2c_number and t2c_allowed(recipient):
            return SmsLine(Channel.T2C, t2c_sender(self.t2c_number), self.t2c_number, "t2c_number")
        reason = "Time2Chat only towards French mobiles (R10)" if self.t2c_number else None
        if self.sms_sender:
            return SmsLine(Channel.SMS, self.sms_sender, self.sms_sender, "sender_id", reason)
        return SmsLine(Channel.SMS, None, "", "default", reason)


@dataclass(frozen=True, slots=True)
class SmsLine:
    channel: Channel
    sender: str | None
    """What smsmode is given as `from` (None: the account's default)."""
    shown: str
    """The sender as the ledger names it: the 09 number in E.164, the SenderID, or ""."""
    sender_type: str
    why: str | None = None
    """Why not Time2Chat, when the bot has a 09 number."""
