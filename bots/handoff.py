"""Conversations changed from outside their turns (FLOWS.md `handoff`: "the bot stays silent
until released through the admin API"): a person answers a handed-off conversation through the
bot's channels, gives it back to the bot (release), or ends it.

Each change is one `Store.write_conversation`: a compare-and-set on the conversation's version
with the message queued and the transcript line added. A worker turn that read the
conversation before fails its own compare-and-set and handles its event again from the new
state; a change that lost to a turn reads the conversation again and decides again (a person's
answer is refused once the conversation is no longer handed off). So the two never interleave.

Keys: a person's answer is queued as `{last inbox seq}:a{n}:{digest}`, after the flow's messages
of the same inbox entry (`{seq}:{index}`, digits sort before `a`) and before the next entry's,
`n` keeping a person's answers in the order given; `digest` names the request (the token and its
`Idempotency-Key`), so a retried request finds its message instead of sending it twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from bots.business_events import turn_events
from messaging.clock import Clock
from store.base import Store, VersionConflict
from store.business_events_records import EventKind
from store.records import (
    Conversation,
    ConversationStatus,
    Direction,
    HistoryEntry,
    NewOutbound,
    OutboxEntry,
)

AGENT_LINE = "agent:"
"""The history key prefix of a person's answer (then its outbox key)."""
ADMIN_LINE = "admin:"
"""The history key prefix of a release or an end (then the action and the version)."""
ATTEMPTS = 20
"""Compare-and-set conflicts a change survives: each one is a turn that moved on."""


class ConversationChangeError(Exception):
    """The change does not apply to the conversation as it is; `code` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def is_agent_key(key: str) -> bool:
    """Whether an outbox key is a person's answer's (flow keys are all digits and colons)."""
    return ":a" in key


def not_handed_off() -> ConversationChangeError:
    return ConversationChangeError("not_handed_off", "the conversation is not handed off")


def request_digest(requester: str, key: str) -> str:
    """The part of an answer's outbox key that names the request (`requester` and its key)."""
    return hashlib.sha256(f"{requester}\x1f{key}".encode("utf-8", "surrogatepass")).hexdigest()[:24]


class ConversationChanges:
    """The changes, over one store and clock (the runtime's)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        told: Mapping[str, frozenset[EventKind]] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.told = told or {}
        """What each bot's business is told by webhook (an end through the API too)."""

    async def _read(self, conversation_id: str) -> Conversation:
        conversation = await self.store.get_conversation_by_id(conversation_id)
        if conversation is None:
            raise ConversationChangeError("unknown_conversation", "no such conversation")
        return conversation

    async def answer(
        self, conversation_id: str, content: Mapping[str, Any], digest: str
    ) -> tuple[OutboxEntry, bool]:
        """Queue a person's answer in a handed-off conversation, once per `digest`: the entry
        and True, or the entry queued by the same request before and False.
        `ConversationChangeError`: `not_handed_off`, `idempotency_key_reused` (the digest
        was used for another content), `unknown_conversation`, `busy`."""
        for _ in range(ATTEMPTS):
            conversation = await self._read(conversation_id)
            entries = await self.store.conversation_outbound(conversation.id)
            for entry in entries:
                if entry.key.endswith(f":{digest}"):
                    if entry.content != content:
                        raise ConversationChangeError(
                            "idempotency_key_reused",
                            "this Idempotency-Key was already used for another message",
                        )
                    return entry, False
            if conversation.status is not ConversationStatus.HANDED_OFF:
                raise not_handed_off()
            prefix = f"{conversation.last_inbox_seq:012d}:a"
            n = sum(1 for entry in entries if entry.key.startswith(prefix))
            key = f"{prefix}{n:03d}:{digest}"
            now = self.clock.now()
            message = NewOutbound(key, dict(content), conversation.channel, now, reply=True)
            line = HistoryEntry(
                f"{AGENT_LINE}{key}", conversation.id, Direction.OUT, dict(content), now
            )
            try:
                await self.store.write_conversation(
                    _next(conversation, now), [message], [line], now
                )
            except VersionConflict:
                continue
            written = await self.store.get_outbound(key)
            assert written is not None, "write_conversation queued it"
            return written, True
        raise _busy()

    async def release(self, conversation_id: str) -> tuple[Conversation, bool]:
        """Give a handed-off conversation back to the bot, in the state it is in: its next
        input is matched against that state's `on`, the flow's global `on`, then `otherwise`.
        A conversation already released comes back as it is with False (the request is
        idempotent); `not_handed_off` for one never handed off, or ended."""
        for _ in range(ATTEMPTS):
            conversation = await self._read(conversation_id)
            if conversation.status is not ConversationStatus.HANDED_OFF:
                if conversation.status is ConversationStatus.ACTIVE and await self._released(
                    conversation
                ):
                    return conversation, False
                raise not_handed_off()
            try:
                return await self._change(conversation, ConversationStatus.ACTIVE, "release"), True
            except VersionConflict:
                continue
        raise _busy()

    async def end(self, conversation_id: str) -> tuple[Conversation, bool]:
        """End a conversation (active or handed off); an ended one comes back as it is with
        False. Its messages already queued are left to the dispatcher: they were decided
        before the end (the send gate still applies to each)."""
        for _ in range(ATTEMPTS):
            conversation = await self._read(conversation_id)
            if conversation.status is ConversationStatus.ENDED:
                return conversation, False
            try:
                return await self._change(conversation, ConversationStatus.ENDED, "end"), True
            except VersionConflict:
                continue
        raise _busy()

    async def _change(
        self, conversation: Conversation, status: ConversationStatus, action: str
    ) -> Conversation:
        now = self.clock.now()
        after = replace(_next(conversation, now), status=status)
        key = f"{ADMIN_LINE}{action}:{after.version}"
        line = HistoryEntry(key, conversation.id, Direction.IN, {"kind": action}, now)
        kinds = self.told.get(conversation.bot_id, frozenset())
        seq = conversation.last_inbox_seq
        events = turn_events(conversation, after, seq=seq, kinds=kinds, now=now, reason="admin")
        await self.store.write_conversation(after, [], [line], now, events)
        return after

    async def _released(self, conversation: Conversation) -> bool:
        lines = await self.store.history(conversation.id)
        return any(line.key.startswith(f"{ADMIN_LINE}release:") for line in lines)


def _next(conversation: Conversation, now: datetime) -> Conversation:
    return replace(conversation, version=conversation.version + 1, updated_at=now)


def _busy() -> ConversationChangeError:
    return ConversationChangeError(
        "busy", "the conversation kept changing while this was applied: try again"
    )
