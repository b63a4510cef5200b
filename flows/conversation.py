"""What a turn takes and gives: the conversation snapshot, the event, the result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from messaging.channel import Channel
from messaging.choices import ChoiceMap
from messaging.content import Content
from messaging.inbound import Inbound

PARIS = ZoneInfo("Europe/Paris")


class Status(StrEnum):
    ACTIVE = "active"
    HANDED_OFF = "handed_off"  # a person answers; the bot stays silent until released
    ENDED = "ended"


@dataclass(slots=True)
class Snapshot:
    """The part of a conversation the engine reads and writes; the store keeps it."""

    state: str
    vars: dict[str, Any]
    choices: ChoiceMap = field(default_factory=ChoiceMap)
    """The numbered choices of the last message sent, read against the next reply."""
    status: Status = Status.ACTIVE
    attempts: int = 0
    """Invalid answers given to the current `ask`."""
    epoch: int = 0
    """Counts restarts of the current wait; names its `after` timers so stale ones are ignored."""


@dataclass(frozen=True, slots=True)
class TurnContext:
    """What templates see besides the snapshot: who we talk to, how, and for which bot."""

    contact: Mapping[str, Any] = field(default_factory=dict)
    channel: Channel = Channel.RCS
    bot: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    """Only the environment variables the bot's configuration allows."""
    timezone: ZoneInfo = PARIS


@dataclass(frozen=True, slots=True)
class Start:
    """Start the conversation at the flow's `start` state."""


@dataclass(frozen=True, slots=True)
class Received:
    message: Inbound


@dataclass(frozen=True, slots=True)
class TimerFired:
    key: str


Event = Start | Received | TimerFired


@dataclass(frozen=True, slots=True)
class Timer:
    key: str
    due: datetime


@dataclass(frozen=True, slots=True)
class Handoff:
    queue: str


@dataclass(slots=True)
class StepResult:
    snapshot: Snapshot
    messages: list[Content] = field(default_factory=list)
    """Contents to send, in order, channel-neutral."""
    arm: list[Timer] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)
    handoff: Handoff | None = None
    ended: bool = False
    trace: list[str] = field(default_factory=list)
    """What happened, for people: states entered, transitions taken, answers refused."""

    @property
    def choices(self) -> ChoiceMap:
        """The choice map in force after this turn."""
        return self.snapshot.choices


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    json: Any
    timeout: timedelta


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    json: Any


HttpCaller = Callable[[HttpRequest], Awaitable[HttpResponse]]
"""Makes a flow's `call`; injected so that the engine stays pure and tests answer from files."""


class FlowRuntimeError(Exception):
    """A turn could not complete: a template failed, or a call failed with no `on_error`."""

    def __init__(self, state: str, message: str) -> None:
        super().__init__(f"state {state!r}: {message}")
        self.state = state
