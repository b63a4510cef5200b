"""Suggestions: reply chips and actions, channel-neutral (FLOWS.md "Suggestions").

On RCS they become RBM suggestions; on SMS a reply becomes a numbered choice and an action a
`label : value` line (see `messaging.renderers.sms`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from messaging.keyed import exactly_one_key, tag_by_key
from messaging.limits import (
    CalendarDescription,
    CalendarTitle,
    Deferrable,
    Label,
    PostbackData,
    Url,
    is_deferred,
)
from messaging.phone import InvalidPhoneError, Phone
from messaging.text import slug


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Suggestion(_Model):
    data: PostbackData | None = None
    """Postback data sent back when tapped; defaults to the slug of the label."""

    @property
    def text(self) -> str:
        """The label the recipient sees."""
        raise NotImplementedError

    @model_validator(mode="after")
    def _default_data(self, info: ValidationInfo) -> Self:
        # A templated label gets its default data once rendered, not the slug of its template.
        if self.data is None and not is_deferred(self.text, info):
            object.__setattr__(self, "data", slug(self.text))
        return self

    @property
    def postback(self) -> str:
        """The postback data, never None once validated."""
        return self.data or slug(self.text)


class Reply(_Suggestion):
    kind: Literal["reply"] = "reply"
    reply: Label

    @property
    def text(self) -> str:
        return self.reply


class _Action(_Suggestion):
    label: Label

    @property
    def text(self) -> str:
        return self.label


class OpenUrl(_Action):
    kind: Literal["url"] = "url"
    url: Url


class Dial(_Action):
    kind: Literal["dial"] = "dial"
    dial: str

    @field_validator("dial")
    @classmethod
    def _e164(cls, value: str, info: ValidationInfo) -> str:
        if is_deferred(value, info):
            return value
        try:
            return Phone(value).e164
        except InvalidPhoneError as error:
            raise ValueError(str(error)) from None

    @property
    def phone(self) -> Phone:
        return Phone(self.dial)


class Place(_Model):
    """A place to show: coordinates, or a free-text query such as an address."""

    lat: Annotated[float, Field(ge=-90, le=90), Deferrable] | None = None
    lng: Annotated[float, Field(ge=-180, le=180), Deferrable] | None = None
    query: Annotated[str, Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        has_point = self.lat is not None or self.lng is not None
        if has_point and (self.lat is None or self.lng is None):
            raise ValueError("a location needs both lat and lng")
        if has_point == (self.query is not None):
            raise ValueError("a location is either {lat, lng} or {query}")
        return self


class ShowLocation(_Action):
    kind: Literal["location"] = "location"
    location: Place


class ShareLocation(_Suggestion):
    kind: Literal["share_location"] = "share_location"
    share_location: Label

    @property
    def text(self) -> str:
        return self.share_location


class CalendarEvent(_Model):
    title: CalendarTitle
    start: Annotated[datetime, Deferrable]
    end: Annotated[datetime, Deferrable]
    description: CalendarDescription | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if isinstance(self.start, datetime) and isinstance(self.end, datetime):
            if (self.start.tzinfo is None) != (self.end.tzinfo is None):
                raise ValueError("calendar start and end must both have a time zone, or neither")
            if self.end < self.start:
                raise ValueError("calendar end is before its start")
        return self


class AddToCalendar(_Action):
    kind: Literal["calendar"] = "calendar"
    calendar: CalendarEvent


SUGGESTION_KEYS = ("reply", "url", "dial", "location", "share_location", "calendar")


Suggestion = Annotated[
    Annotated[Reply, Tag("reply suggestion")]
    | Annotated[OpenUrl, Tag("url suggestion")]
    | Annotated[Dial, Tag("dial suggestion")]
    | Annotated[ShowLocation, Tag("location suggestion")]
    | Annotated[ShareLocation, Tag("share_location suggestion")]
    | Annotated[AddToCalendar, Tag("calendar suggestion")],
    Discriminator(tag_by_key(SUGGESTION_KEYS, "suggestion")),
    BeforeValidator(exactly_one_key(SUGGESTION_KEYS, "suggestion")),
]
