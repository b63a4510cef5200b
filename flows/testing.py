"""Conversation tests: YAML files that script a conversation and check what the bot says.

The format is the user contract of FLOWS.md "Conversation tests". Each case runs offline: a
fake clock, timers in memory, HTTP calls answered by the file. A case stops at its first
failing step, which reports what was expected, what the bot said and the state it was in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
)

from flows.compiler import CompiledFlow
from flows.conversation import (
    PARIS,
    FlowRuntimeError,
    HttpRequest,
    HttpResponse,
    Status,
    TurnContext,
)
from flows.loader import load_yaml
from flows.problems import FlowError, Problem
from flows.schema import Duration
from flows.simulator import BotMessage, Simulator
from flows.validation import load_flow, problem_from_error
from messaging.channel import Channel
from messaging.clock import FakeClock
from messaging.inbound import Inbound, InboundFile, InboundLocation, InboundPostback, InboundText
from messaging.keyed import exactly_one_key, tag_by_key

DEFAULT_NOW = datetime(2026, 12, 1, 10, 0, tzinfo=PARIS)
"""Cases start on a Tuesday at 10:00 in Paris unless they say otherwise."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HttpAnswer(_Model):
    """How the file answers one backend URL (every call to it, in every step of the case)."""

    url: str
    method: str | None = None
    respond: Any = None
    status: int = 200
    error: Literal["timeout", "connection"] | None = None


class Pattern(_Model):
    regex: str


class Tap(_Model):
    data: str
    text: str = ""


class SharedLocation(_Model):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)


class UserInput(_Model):
    """What the user sends: text, a tapped chip (`data`), a location or a file."""

    text: str | None = None
    data: str | None = None
    location: SharedLocation | None = None
    file: str | None = None

    def message(self) -> Inbound:
        if self.data is not None:
            return InboundPostback(data=self.data, text=self.text or "")
        if self.location is not None:
            return InboundLocation(latitude=self.location.lat, longitude=self.location.lng)
        if self.file is not None:
            return InboundFile(url=self.file)
        if self.text is not None:
            return InboundText(text=self.text)
        raise ValueError("a user step needs text, data, location or file")


def _text_input_value(value: Any) -> Any:
    # `bot: 2` and `user: 2` mean the text "2", not a number.
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _text_input(value: Any) -> Any:
    value = _text_input_value(value)
    return {"text": value} if isinstance(value, str) else value


class UserStep(_Model):
    user: Annotated[UserInput, BeforeValidator(_text_input)]


class BotStep(_Model):
    bot: Annotated[str | Pattern, BeforeValidator(_text_input_value)]


class StateStep(_Model):
    state: str


class WaitStep(_Model):
    wait: Duration


class VarsStep(_Model):
    vars: dict[str, Any]


class StatusStep(_Model):
    status: Status


_STEP_KEYS = ("user", "bot", "state", "wait", "vars", "status")


Step = Annotated[
    Annotated[UserStep, Tag("user step")]
    | Annotated[BotStep, Tag("bot step")]
    | Annotated[StateStep, Tag("state step")]
    | Annotated[WaitStep, Tag("wait step")]
    | Annotated[VarsStep, Tag("vars step")]
    | Annotated[StatusStep, Tag("status step")],
    Discriminator(tag_by_key(_STEP_KEYS, "step")),
    BeforeValidator(exactly_one_key(_STEP_KEYS, "step")),
]


class Case(_Model):
    name: str
    channel: Channel = Channel.RCS
    contact: dict[str, Any] = Field(default_factory=dict)
    vars: dict[str, Any] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    http: list[HttpAnswer] = Field(default_factory=list)
    now: datetime | None = None
    steps: list[Step]


class TestFile(_Model):
    flow: str
    """The flow file, relative to this test file."""
    env: dict[str, str] = Field(default_factory=dict)
    contact: dict[str, Any] = Field(default_factory=dict)
    http: list[HttpAnswer] = Field(default_factory=list)
    now: datetime | None = None
    cases: list[Case] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class Failure:
    step: int
    """1-based index of the failing step in the case."""
    expected: str
    actual: list[str]
    """What the bot said since the last matched `bot` step."""
    state: str | None


@dataclass(frozen=True, slots=True)
class CaseResult:
    name: str
    channel: Channel
    failure: Failure | None = None

    @property
    def passed(self) -> bool:
        return self.failure is None


@dataclass(slots=True)
class FileResult:
    path: Path
    problems: list[Problem] = field(default_factory=list)
    """Why the file (or its flow) could not run; then it has no cases."""
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(case.passed for case in self.cases)

    @property
    def failed(self) -> int:
        return len(self.cases) - self.passed + (1 if self.problems else 0)


class _Answers:
    """The HTTP caller of a case: answers from the file, in the order given."""

    def __init__(self, answers: list[HttpAnswer]) -> None:
        self.answers = answers

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        for answer in self.answers:
            if answer.url == request.url and answer.method in (None, request.method):
                if answer.error == "timeout":
                    raise TimeoutError
                if answer.error == "connection":
                    raise ConnectionError(f"cannot connect to {request.url}")
                return HttpResponse(answer.status, answer.respond)
        raise LookupError(f"the test file has no `http` answer for {request.method} {request.url}")


class _CaseRun:
    def __init__(self, flow: CompiledFlow, case: Case, defaults: TestFile) -> None:
        self.case = case
        clock = FakeClock((case.now or defaults.now or DEFAULT_NOW).astimezone(UTC))
        context = TurnContext(
            contact={**defaults.contact, **case.contact},
            channel=case.channel,
            env={**defaults.env, **case.env},
        )
        answers = _Answers([*case.http, *defaults.http])
        self.simulator = Simulator(flow, context=context, clock=clock, http=answers)
        self.pending: list[BotMessage] = []

    async def run(self) -> CaseResult:
        try:
            self.pending.extend(await self.simulator.start(self.case.vars))
        except FlowRuntimeError as error:
            return self._result(Failure(0, "the conversation to start", [str(error)], None))
        for index, step in enumerate(self.case.steps, 1):
            try:
                failure = await self._check(step)
            except FlowRuntimeError as error:
                failure = f"no run-time error, got: {error}"
            if failure is not None:
                said = [message.text for message in self.pending]
                return self._result(Failure(index, failure, said, self.simulator.state))
        return self._result(None)

    def _result(self, failure: Failure | None) -> CaseResult:
        return CaseResult(self.case.name, self.case.channel, failure)

    async def _check(self, step: Any) -> str | None:
        """Runs one step; returns what was expected when it fails."""
        match step:
            case UserStep(user=given):
                self.pending.extend(await self.simulator.receive(given.message()))
            case WaitStep(wait=delta):
                self.pending.extend(await self.simulator.wait(delta))
            case BotStep(bot=expected):
                return self._expect_message(expected)
            case StateStep(state=expected) if self.simulator.state != expected:
                return f"state {expected!r}"
            case StatusStep(status=expected) if self.simulator.status != expected:
                return f"status {expected} (it is {self.simulator.status})"
            case VarsStep(vars=expected):
                return self._expect_vars(expected)
        return None

    def _expect_message(self, expected: str | Pattern) -> str | None:
        for index, message in enumerate(self.pending):
            if _matches(expected, message.text):
                del self.pending[: index + 1]
                return None
        if isinstance(expected, Pattern):
            return f"a bot message matching /{expected.regex}/"
        return f"a bot message containing {expected!r}"

    def _expect_vars(self, expected: Mapping[str, Any]) -> str | None:
        actual = self.simulator.snapshot.vars if self.simulator.snapshot else {}
        wrong = {k: v for k, v in expected.items() if actual.get(k, _MISSING) != v}
        if not wrong:
            return None
        shown = ", ".join(f"{k}={v!r} (is {actual.get(k, 'unset')!r})" for k, v in wrong.items())
        return f"vars {shown}"


_MISSING = object()


def _matches(expected: str | Pattern, text: str) -> bool:
    if isinstance(expected, Pattern):
        return re.search(expected.regex, text) is not None
    return expected in text


def parse_test_file(path: Path) -> tuple[TestFile | None, list[Problem]]:
    raw, problems = load_yaml(path.read_text(encoding="utf-8"), str(path))
    if raw is None or problems:
        return None, problems
    try:
        return TestFile.model_validate(raw), []
    except ValidationError as error:
        return None, [problem_from_error(str(path), raw, detail) for detail in error.errors()]


async def run_test_file(path: Path) -> FileResult:
    result = FileResult(path)
    try:
        spec, result.problems = parse_test_file(path)
    except (OSError, UnicodeDecodeError) as error:
        result.problems = [Problem(str(path), 1, 1, f"cannot read the test file: {error}")]
        return result
    if spec is None:
        return result
    try:
        flow = load_flow(path.parent / spec.flow)
    except FlowError as error:
        result.problems = error.errors
        return result
    for case in spec.cases:
        result.cases.append(await _CaseRun(flow, case, spec).run())
    return result


def find_test_files(paths: list[Path]) -> list[Path]:
    """Test files among `paths`: files as given; in folders, the YAML files with `cases`.

    Flows and tests may share a folder: a YAML file without a top-level `cases` key is not a
    conversation test and is left out.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
            found.extend(p for p in candidates if _looks_like_test(p))
        else:
            found.append(path)
    return found


def _looks_like_test(path: Path) -> bool:
    try:
        raw, _ = load_yaml(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError):
        return True  # let the run report why it cannot be read
    return not isinstance(raw, dict) or "cases" in raw
