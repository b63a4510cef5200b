"""The flow file as data: pydantic models of FLOWS.md, keys and names kept as users write them.

Templates stay source strings here; `flows.compiler` compiles them. Content is validated with
`messaging`'s models under a deferred context, so a templated field skips its RBM limit until it
is rendered.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from flows.durations import parse_duration
from messaging.content import Content
from messaging.suggestions import Reply

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
StateName = str
VarName = str


def _one_or_many(value: Any) -> Any:
    if value is None:
        return ()
    return value if isinstance(value, list | tuple) else [value]


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _reply_from_label(value: Any) -> Any:
    return {"reply": value} if isinstance(value, str) else value


Says = Annotated[tuple[Content, ...], BeforeValidator(_one_or_many)]
Strings = Annotated[tuple[str, ...], BeforeValidator(_one_or_many)]
ChoiceReply = Annotated[Reply, BeforeValidator(_reply_from_label)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Traffic(StrEnum):
    TRANSACTIONAL = "transactional"
    MARKETING = "marketing"


class HttpMethod(StrEnum):
    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"


class Call(_Model):
    """An HTTP call to the business backend, made on entry to a state."""

    url: str
    method: Annotated[HttpMethod, BeforeValidator(_upper)] = HttpMethod.GET
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    timeout: Duration = timedelta(seconds=10)
    save: VarName | None = None
    on_error: StateName | None = None


class AskType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    INTEGER = "integer"
    DATE = "date"
    TIME = "time"
    EMAIL = "email"
    PHONE = "phone"
    CHOICE = "choice"
    REGEX = "regex"
    YES_NO = "yes_no"


class Ask(_Model):
    """Collect one value; invalid answers get `retry`, then `on_fail` after `max_attempts`."""

    var: VarName
    type: AskType = AskType.TEXT
    prompt: Content | None = None
    retry: Content | None = None
    choices: tuple[ChoiceReply, ...] = ()
    pattern: str | None = None
    min: float | None = None
    max: float | None = None
    max_attempts: int | None = Field(default=None, ge=1)
    on_fail: StateName | None = None


class Branch(_Model):
    """One entry of a conditional `goto`: taken when `if` is true, or always without `if`."""

    condition: str | None = Field(default=None, alias="if")
    to: StateName


Goto = StateName | tuple[Branch, ...]


class Handoff(_Model):
    queue: str = "default"
    say: Says = ()


class Transition(_Model):
    """One entry of an `on` list: conditions (all must hold) and effects."""

    data: Strings | None = None
    text: str | None = None
    keywords: Strings | None = None
    condition: str | None = Field(default=None, alias="if")
    location: bool | None = None
    file: bool | None = None
    after: Duration | None = None
    set: dict[VarName, Any] = Field(default_factory=dict)
    say: Says = ()
    goto: StateName | None = None

    @property
    def matches_input(self) -> bool:
        """True when this transition reacts to input (it has no `after`)."""
        return self.after is None


class Otherwise(_Model):
    set: dict[VarName, Any] = Field(default_factory=dict)
    say: Says = ()
    goto: StateName | None = None


class State(_Model):
    say: Says = ()
    set: dict[VarName, Any] = Field(default_factory=dict)
    call: Call | None = None
    ask: Ask | None = None
    goto: Goto | None = None
    handoff: Handoff | None = None
    end: bool = False
    on: tuple[Transition, ...] = ()
    otherwise: Otherwise | None = None

    @field_validator("goto", mode="before")
    @classmethod
    def _goto_list(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value


FLOW_ID = r"^[a-z0-9_-]+$"


class Flow(_Model):
    flow: Annotated[str, Field(pattern=FLOW_ID)]
    description: str = ""
    traffic: Traffic = Traffic.TRANSACTIONAL
    start: StateName
    vars: dict[VarName, Any] = Field(default_factory=dict)
    on: tuple[Transition, ...] = ()
    states: dict[StateName, State]
