"""Shared helpers for the flow tests: inline flows, a conversation driver, a fake backend.

`flow(yaml)` compiles a dedented inline flow through `flows.validation.compile_text`, the way a
user's file is compiled. `Chat` keeps the snapshot between turns the way the runtime does, and
`run_events` steps through a list of events. `FakeHttp` is the async HTTP caller a flow's
`call` goes through: it records every request and answers from a queue.
"""

from __future__ import annotations

import textwrap
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from flows.compiler import CompiledFlow
from flows.conversation import (
    PARIS,
    Event,
    HttpRequest,
    HttpResponse,
    Received,
    Snapshot,
    Start,
    StepResult,
    TimerFired,
    TurnContext,
)
from flows.engine import step
from flows.validation import compile_text
from messaging.channel import Channel
from messaging.clock import FakeClock
from messaging.content import Content, File, Image, RichCard, RichCarousel, Text, Video
from messaging.inbound import Inbound, InboundPostback, InboundText

Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


def flow(source: str, path: str = "<test>") -> CompiledFlow:
    """Compile an inline flow (indented as a triple-quoted string in a test)."""
    return compile_text(textwrap.dedent(source).strip() + "\n", path)


class FakeHttp:
    """An async HTTP caller that records requests and answers from a queue, in order.

    Each queued answer is a response, an exception to raise, or an async handler. A call with
    nothing queued fails the test.
    """

    def __init__(self) -> None:
        self.requests: list[HttpRequest] = []
        self._answers: list[HttpResponse | BaseException | Handler] = []

    def respond(self, json: Any = None, status: int = 200) -> FakeHttp:
        self._answers.append(HttpResponse(status=status, json=json))
        return self

    def fail(self, error: BaseException) -> FakeHttp:
        self._answers.append(error)
        return self

    def handle(self, handler: Handler) -> FakeHttp:
        self._answers.append(handler)
        return self

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        if not self._answers:
            raise AssertionError(f"unexpected HTTP call: {request.method} {request.url}")
        answer = self._answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, HttpResponse):
            return answer
        return await answer(request)


def as_event(item: Event | Inbound | str) -> Event:
    """A string is typed text; an inbound message is received; events pass through."""
    if isinstance(item, str):
        return Received(InboundText(text=item))
    if isinstance(item, Start | Received | TimerFired):
        return item
    return Received(item)


async def run_events(
    compiled: CompiledFlow,
    events: Iterable[Event | Inbound | str],
    *,
    snapshot: Snapshot | None = None,
    context: TurnContext | None = None,
    clock: FakeClock | None = None,
    http: FakeHttp | None = None,
) -> list[StepResult]:
    """Step through `events`, each turn starting from the snapshot the previous one gave."""
    context = context or TurnContext()
    clock = clock or FakeClock()
    results: list[StepResult] = []
    for item in events:
        result = await step(
            compiled, snapshot, as_event(item), context=context, clock=clock, http=http
        )
        snapshot = result.snapshot
        results.append(result)
    return results


class Chat:
    """One conversation driven turn by turn, keeping its snapshot as the runtime would."""

    def __init__(
        self,
        compiled: CompiledFlow,
        *,
        channel: Channel = Channel.RCS,
        contact: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        bot: Mapping[str, Any] | None = None,
        timezone: ZoneInfo = PARIS,
        clock: FakeClock | None = None,
        http: FakeHttp | None = None,
    ) -> None:
        self.flow = compiled
        self.context = TurnContext(
            contact=contact or {},
            channel=channel,
            bot=bot or {},
            env=env or {},
            timezone=timezone,
        )
        self.clock = clock or FakeClock()
        self.http = http
        self.snapshot: Snapshot | None = None
        self.results: list[StepResult] = []

    async def step(self, event: Event | Inbound | str) -> StepResult:
        result = await step(
            self.flow,
            self.snapshot,
            as_event(event),
            context=self.context,
            clock=self.clock,
            http=self.http,
        )
        self.snapshot = result.snapshot
        self.results.append(result)
        return result

    async def start(self) -> StepResult:
        return await self.step(Start())

    async def say(self, text: str) -> StepResult:
        return await self.step(InboundText(text=text))

    async def tap(self, data: str, text: str = "") -> StepResult:
        return await self.step(InboundPostback(data=data, text=text))

    async def fire(self, key: str) -> StepResult:
        return await self.step(TimerFired(key))

    @property
    def state(self) -> str:
        assert self.snapshot is not None, "the conversation has not started"
        return self.snapshot.state

    @property
    def vars(self) -> dict[str, Any]:
        assert self.snapshot is not None, "the conversation has not started"
        return self.snapshot.vars


def text_of(content: Content) -> str:
    """The words a content shows: its text, or a card's title and description."""
    if isinstance(content, Text):
        return content.text
    if isinstance(content, RichCard):
        return "\n".join(p for p in (content.card.title, content.card.description) if p)
    if isinstance(content, RichCarousel):
        return "\n".join(card.title or card.description or "" for card in content.carousel.cards)
    if isinstance(content, Image | Video | File):
        return content.text or ""
    raise AssertionError(f"unknown content {content!r}")


def texts(result: StepResult) -> list[str]:
    """The rendered text of every message of a turn, in order."""
    return [text_of(message) for message in result.messages]


def chips(content: Content) -> list[tuple[str, str]]:
    """The reply chips of a content as (label, data)."""
    return [(reply.text, reply.postback) for reply in content.replies]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def http() -> FakeHttp:
    return FakeHttp()
