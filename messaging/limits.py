"""RBM limits (reference/rbm.md §1.6) and the validation context that can defer them.

A flow's content holds Jinja templates whose final length is known only once rendered. The
flow validator builds content models with `deferred_context(is_template)`: a string for which
`is_template` answers True skips its length check at load time; the rendered content is
validated again, with no context, before it is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, ValidationInfo, WrapValidator

TEXT_MAX = 3072
SUGGESTION_LABEL_MAX = 25
POSTBACK_DATA_MAX = 2048
URL_MAX = 2048
CARD_TITLE_MAX = 200
CARD_DESCRIPTION_MAX = 2000
CALENDAR_TITLE_MAX = 100
CALENDAR_DESCRIPTION_MAX = 500
CHIPS_MAX = 11
CARD_SUGGESTIONS_MAX = 4
CAROUSEL_MIN = 2
CAROUSEL_MAX = 10

DEFERRED = "causette.deferred"


def deferred_context(is_deferred: Callable[[str], bool]) -> dict[str, Any]:
    """Validation context under which strings matching `is_deferred` skip their limits."""
    return {DEFERRED: is_deferred}


def is_deferred(value: str, info: ValidationInfo) -> bool:
    context = info.context
    if not context:
        return False
    check = context.get(DEFERRED)
    return bool(check and check(value))


def _max_length(limit: int, what: str) -> Callable[[str, ValidationInfo], str]:
    def check(value: str, info: ValidationInfo) -> str:
        if not value.strip():
            raise ValueError(f"{what} is empty")
        if len(value) > limit and not is_deferred(value, info):
            raise ValueError(f"{what} is {len(value)} characters long; RBM allows at most {limit}")
        return value

    return check


def _url(value: str, info: ValidationInfo) -> str:
    if is_deferred(value, info):
        return value
    parts = urlsplit(value)
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.netloc
        or any(c.isspace() for c in value)
    ):
        raise ValueError(f"{value!r} is not an http(s) URL")
    if len(value) > URL_MAX:
        raise ValueError(f"URL is {len(value)} characters long; RBM allows at most {URL_MAX}")
    return value


MessageText = Annotated[str, AfterValidator(_max_length(TEXT_MAX, "text"))]
Label = Annotated[str, AfterValidator(_max_length(SUGGESTION_LABEL_MAX, "label"))]
PostbackData = Annotated[str, AfterValidator(_max_length(POSTBACK_DATA_MAX, "data"))]
CardTitle = Annotated[str, AfterValidator(_max_length(CARD_TITLE_MAX, "card title"))]
CardDescription = Annotated[
    str, AfterValidator(_max_length(CARD_DESCRIPTION_MAX, "card description"))
]
CalendarTitle = Annotated[str, AfterValidator(_max_length(CALENDAR_TITLE_MAX, "calendar title"))]
CalendarDescription = Annotated[
    str, AfterValidator(_max_length(CALENDAR_DESCRIPTION_MAX, "calendar description"))
]
Url = Annotated[str, AfterValidator(_url)]


def _deferrable(value: Any, handler: Callable[[Any], Any], info: ValidationInfo) -> Any:
    if isinstance(value, str) and is_deferred(value, info):
        return value
    return handler(value)


Deferrable = WrapValidator(_deferrable)
"""Marks a non-string field (a number, a date) whose value a template may give at run time."""
