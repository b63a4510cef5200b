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
    limiter: AsyncLimiter | None = None
    """Paces the agent's sends (`RcsPolicy.rate` per second); None: unpaced."""

    @property
    def sms_channel(self) -> Channel:
        """Time2Chat when the bot has a 09 number, plain SMS otherwise."""
        return Channel.T2C if self.t2c_number else Channel.SMS

    @property
    def sms_from(self) -> str | None:
        """Who an SMS comes from (R20: the sender configured for the bot's agent). The 09
        number whenever the bot has one: an SMS with numbered choices must come from a number
        the recipient can answer, which a SenderID is not. None: smsmode's default sender."""
        if self.t2c_number:
            return t2c_sender(self.t2c_number)
        return self.sms_sender
