"""The sending rules at the moment a message leaves (`compliance.gate.decide`), with what the
store knows of the person: red list (R6), opt-out (R25), consent (R30); links (R28) and quiet
hours (sms.md §3.3) come from the message and the clock.

Also where a marketing SMS gets its STOP mention (R25, sms.md §3.2) and a SenderID its last
check before use (R27: a refused sender never leaves, and is never silently rewritten).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from compliance.consent import marketing_consent
from compliance.gate import Block, Decision, GatePolicy, Outgoing, Traffic, decide
from compliance.sender_ids import SenderIdRules
from compliance.stop_mention import stop_mention, with_stop_mention
from fallback.channels import BotChannels
from messaging.renderers.rbm import TrafficType
from store.base import Store
from store.records import OutboxEntry


@dataclass(frozen=True, slots=True)
class SendRules:
    policy: GatePolicy = field(default_factory=GatePolicy)
    stop_mention: str = stop_mention("36034")
    force_stop_mention: bool = False
    senders: SenderIdRules = field(default_factory=SenderIdRules)


def traffic_of(entry: OutboxEntry, bot: BotChannels) -> Traffic:
    """The entry's own traffic (a STOP confirmation is transactional), else its flow's."""
    if entry.traffic in ("marketing", "transactional"):
        return "marketing" if entry.traffic == "marketing" else "transactional"
    return "marketing" if bot.traffic is TrafficType.PROMOTION else "transactional"


class SendGate:
    def __init__(self, store: Store, rules: SendRules | None = None) -> None:
        self.store = store
        self.rules = rules or SendRules()

    async def decide(
        self, entry: OutboxEntry, bot: BotChannels, text: str, now: datetime
    ) -> Decision:
        """Send, hold or block the entry, whose text (what links are read from) is `text`."""
        traffic = traffic_of(entry, bot)
        record = await self.store.get_opt_out(bot.business, entry.phone)
        consent = None
        if traffic == "marketing" and bot.consent_field is not None:
            conversation = await self.store.get_conversation_by_id(entry.conversation_id)
            contact = conversation.contact if conversation is not None else {}
            consent = marketing_consent(contact, bot.consent_field)
        message = Outgoing(
            traffic=traffic,
            phone=entry.phone,
            text=text,
            now=now,
            recipient_started=entry.reply,
            opted_out=record is not None and record.opted_out,
            red_listed=await self.store.red_listed(bot.business, entry.phone),
            consent=consent,
        )
        return decide(message, self.rules.policy)

    def sender_refused(self, sender: str | None, today: datetime) -> Block | None:
        if sender is None or sender.isdigit():
            return None  # the default sender or a number of ours, not a SenderID
        problem = self.rules.senders.check(sender, today.date())
        return Block(problem, "R27") if problem is not None else None

    def sms_text(self, entry: OutboxEntry, bot: BotChannels, text: str) -> str:
        """The SMS as sent: a marketing one carries the STOP mention when it fits (R25)."""
        if traffic_of(entry, bot) != "marketing":
            return text
        with_mention, _ = with_stop_mention(
            text, self.rules.stop_mention, force=self.rules.force_stop_mention
        )
        return with_mention
