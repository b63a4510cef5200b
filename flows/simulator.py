"""One conversation run offline: a fake clock, timers kept in memory, each message rendered.

`causette chat` and `causette test` drive a flow through this, so that what a person tries in
the terminal and what a conversation test asserts are the same behaviour. It keeps what the
runtime keeps in the store (snapshot, armed timers) in memory instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flows.compiler import CompiledFlow
from flows.conversation import (
    Event,
    HttpCaller,
    Received,
    Snapshot,
    Start,
    Status,
    StepResult,
    TimerFired,
    TurnContext,
)
from flows.engine import new_snapshot, step
from flows.schema import Traffic
from messaging.clock import FakeClock
from messaging.content import Content
from messaging.inbound import Inbound
from messaging.renderers.preview import preview_text
from messaging.renderers.sms import DEFAULT_STOP_MENTION, SmsMessage, render_sms


@dataclass(frozen=True, slots=True)
class BotMessage:
    """One message the bot sent, as the recipient's phone shows it."""

    content: Content
    text: str
    """The exact SMS text on SMS channels; the visible text (and chip labels) on RCS."""
    sms: SmsMessage | None
    """The SMS rendering, with its segments, on SMS channels."""
    at: datetime


class Simulator:
    def __init__(
        self,
        flow: CompiledFlow,
        *,
        context: TurnContext,
        clock: FakeClock,
        http: HttpCaller | None = None,
        stop_mention: str = DEFAULT_STOP_MENTION,
    ) -> None:
        self.flow = flow
        self.context = context
        self.clock = clock
        self.http = http
        self.snapshot: Snapshot | None = None
        self.timers: dict[str, datetime] = {}
        self.last: StepResult | None = None
        marketing = flow.flow.traffic is Traffic.MARKETING
        self._stop_mention = stop_mention if marketing and context.channel.is_sms else None

    @property
    def state(self) -> str | None:
        return self.snapshot.state if self.snapshot else None

    @property
    def status(self) -> Status | None:
        return self.snapshot.status if self.snapshot else None

    async def start(self, variables: Mapping[str, Any] | None = None) -> list[BotMessage]:
        self.snapshot = new_snapshot(self.flow, variables)
        self.timers.clear()
        return await self._run(Start())

    async def receive(self, message: Inbound) -> list[BotMessage]:
        return await self._run(Received(message))

    async def wait(self, delta: timedelta) -> list[BotMessage]:
        """Let time pass, firing every timer that falls due, in due order."""
        deadline = self.clock.now() + delta
        said: list[BotMessage] = []
        while True:
            due = sorted((when, key) for key, when in self.timers.items() if when <= deadline)
            if not due:
                break
            when, key = due[0]
            del self.timers[key]
            if when > self.clock.now():
                self.clock.set(when)
            said.extend(await self._run(TimerFired(key)))
        self.clock.set(deadline)
        return said

    async def _run(self, event: Event) -> list[BotMessage]:
        if self.snapshot is None:
            raise RuntimeError("the conversation has not started")
        result = await step(
            self.flow, self.snapshot, event, context=self.context, clock=self.clock, http=self.http
        )
        self.last = result
        self.snapshot = result.snapshot
        for key in result.cancel:
            self.timers.pop(key, None)
        self.timers.update({timer.key: timer.due for timer in result.arm})
        return [self._rendered(content) for content in result.messages]

    def _rendered(self, content: Content) -> BotMessage:
        now = self.clock.now()
        if self.context.channel.is_sms:
            sms = render_sms(content, stop_mention=self._stop_mention)
            return BotMessage(content, sms.text, sms, now)
        return BotMessage(content, preview_text(content), None, now)
