"""The sender behind the outbox: each message rendered for its channel and handed to RBM or
smsmode.

A conversation's channel (`rcs`, `sms` or `t2c`) picks the provider. An RCS message that RBM
says cannot reach the recipient (404/403: not RCS-capable, agent not launched for them) goes
by SMS at once, from the sender configured for the bot (R20). The fallback router (deadlines,
revoke, breaker, retries) replaces this simple rule in its own issue.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from agents.errors import NotReachable
from agents.message_ids import rbm_message_id
from agents.rbm import RbmClient
from agents.smsmode import SmsmodeClient, t2c_sender
from messaging.content import CONTENT
from messaging.phone import Phone
from messaging.renderers.rbm import TrafficType, render_rbm_messages
from messaging.renderers.sms import DEFAULT_STOP_MENTION, render_sms
from store.records import OutboxEntry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BotChannels:
    """How one bot reaches people."""

    rbm: RbmClient | None = None
    t2c_number: str | None = None
    """The bot's 09 number (E.164), for Time2Chat."""
    sms_sender: str | None = None
    traffic: TrafficType = TrafficType.TRANSACTION
    status_url: str | None = None
    """Where smsmode posts delivery reports for this bot."""
    mo_url: str | None = None
    """Where smsmode posts replies for this bot."""


class NoChannel(Exception):
    """The bot has no way to send on this conversation's channel."""


class ChannelSender:
    def __init__(self, bots: Mapping[str, BotChannels], smsmode: SmsmodeClient | None) -> None:
        self.bots = bots
        self.smsmode = smsmode

    async def send(self, entry: OutboxEntry) -> str:
        bot = self.bots[entry.bot_id]
        if entry.channel == "rcs" and bot.rbm is not None:
            try:
                return await self._send_rcs(bot.rbm, bot, entry)
            except NotReachable as error:
                log.info("%s not reachable by RCS (%s): by SMS", Phone(entry.phone).masked, error)
        return await self._send_sms(bot, entry)

    def expected_provider_id(self, entry: OutboxEntry) -> str | None:
        """The RBM id of an RCS message's last part (an SMS fallback changes it after)."""
        bot = self.bots[entry.bot_id]
        if entry.channel != "rcs" or bot.rbm is None:
            return None
        # A media message with text goes as two RBM messages (see `_send_rcs`); read from the
        # stored JSON, without validating the content a second time.
        media = any(kind in entry.content for kind in ("image", "video", "file"))
        parts = 2 if media and entry.content.get("text") else 1
        return rbm_message_id(f"{entry.key}/{parts - 1}")

    async def _send_rcs(self, client: RbmClient, bot: BotChannels, entry: OutboxEntry) -> str:
        content = CONTENT.validate_python(entry.content)
        messages = render_rbm_messages(content, traffic=bot.traffic)
        message_id = ""
        for index, message in enumerate(messages):
            # A media message with text is two RBM messages; the last one's id is the
            # entry's, since its DELIVERED means the whole content arrived.
            message_id = rbm_message_id(f"{entry.key}/{index}")
            await client.send(entry.phone, message, message_id=message_id)
        return message_id

    async def _send_sms(self, bot: BotChannels, entry: OutboxEntry) -> str:
        if self.smsmode is None:
            raise NoChannel(f"bot {entry.bot_id} has no SMS provider")
        # The 09 number whenever the bot has one: an SMS with numbered choices must come from
        # a number the recipient can answer, which a SenderID is not (also for R20 fallbacks).
        if bot.t2c_number:
            sender: str | None = t2c_sender(bot.t2c_number)
        else:
            sender = bot.sms_sender
        # R25: marketing messages carry the STOP mention.
        marketing = bot.traffic is TrafficType.PROMOTION
        stop = DEFAULT_STOP_MENTION if marketing else None
        text = render_sms(CONTENT.validate_python(entry.content), stop_mention=stop).text
        accepted = await self.smsmode.send_sms(
            entry.phone,
            text,
            sender=sender,
            ref_client=entry.key,
            status_url=bot.status_url,
            mo_url=bot.mo_url,
        )
        return accepted.message_id
