"""Content to SMS text: what a plain phone shows and can answer (FLOWS.md "SMS rendering").

Rich content degrades to compact text: the text (or a card's title and description), then the
reply chips as numbered choices (`1 Je confirme`), then one `label : value` line per action.
The numbers come from `ChoiceMap.of(content)`, the same map that reads the answer back, so what
the recipient sees and what `2` means cannot drift apart.

Lines are joined with a newline, with no trailing spaces and no empty lines: every character
counts towards the segments billed (reference/sms.md §2).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Final, assert_never
from urllib.parse import quote_plus

from messaging.choices import Choice, ChoiceMap
from messaging.content import Card, Content, File, Image, RichCard, RichCarousel, Text, Video
from messaging.encoding import SmsSegments, split
from messaging.suggestions import (
    AddToCalendar,
    CalendarEvent,
    Dial,
    OpenUrl,
    Place,
    Reply,
    ShareLocation,
    ShowLocation,
    Suggestion,
)

MAPS_URL: Final = "https://maps.google.com/?q="

DEFAULT_STOP_MENTION: Final = "STOP 36034"
"""What marketing SMS end with when nothing else is configured: the real short code depends
on the route, so the sending platform may replace it (reference/sms.md §3.2)."""

# A plain hyphen, not the typographic en dash "–" of French ranges: the en dash is outside
# GSM-7 and would switch the whole message to UCS-2, halving what a segment holds (sms.md §2).
DATE_RANGE_SEPARATOR: Final = " - "

# Regions in the French numbering plan: a recipient in France dials their numbers in national
# form (`04 91 00 00 00`, `0590 12 34 56`). Any other number is shown in E.164 so that it can
# still be dialled from a French phone.
_FRENCH_PLAN_REGIONS: Final = frozenset({"FR", "GP", "MQ", "GF", "RE", "YT", "BL", "MF"})


@dataclass(frozen=True, slots=True)
class SmsMessage:
    """One content rendered for SMS."""

    text: str
    """The exact text to send."""
    choices: ChoiceMap
    """How a reply to this message is read back; empty when it offers no choice."""
    segments: SmsSegments
    """The encoding and parts of `text`, for billing and the "more than 3 segments" warning."""


def render_sms(content: Content, *, stop_mention: str | None = None) -> SmsMessage:
    """Render `content` as SMS text with its numbered choices and its segments.

    The content's `sms:` text, when set, is sent as it is instead of the derived text; the
    choices are still those of its reply chips. `stop_mention` (such as `STOP 36034`), when
    given and not empty, goes on its own last line.

    Derived text follows FLOWS.md, with two choices of ours: a date range is written with a
    hyphen (the en dash would force UCS-2), and a card with neither title nor description shows
    its media URL (otherwise media is dropped).
    """
    choices = ChoiceMap.of(content)
    body = content.sms if content.sms is not None else _derive(content, choices)
    if stop_mention:
        body = "\n".join(line for line in (body.rstrip(), stop_mention) if line)
    return SmsMessage(text=body, choices=choices, segments=split(body))


def _derive(content: Content, choices: ChoiceMap) -> str:
    numbered = iter(choices.choices)
    shown = choices.numbered
    match content:
        case Text():
            lines = [content.text, *_choice_lines(numbered, shown)]
            actions = content.suggestions
        case RichCard():
            lines = [*_card_text(content.card), *_choice_lines(numbered, shown)]
            actions = content.card.suggestions
        case RichCarousel():
            cards = content.carousel.cards
            lines = [line for card in cards for line in _carousel_card_lines(card, numbered, shown)]
            actions = [s for card in cards for s in card.suggestions]
        case Image() | Video() | File():
            lines = [content.text or "", _media_url(content)]
            actions = []
        case _:
            assert_never(content)
    return _compact([*lines, *_action_lines(actions)])


def _choice_lines(choices: Iterable[Choice], numbered: bool) -> list[str]:
    """`1 Je confirme` lines; choices labelled with numbers go on one line, `0 / 1 / 2`."""
    if not numbered:
        return [" / ".join(choice.label for choice in choices)]
    return [f"{choice.number} {choice.label}" for choice in choices]


def _card_text(card: Card) -> list[str]:
    """A card's title and description; its media URL when it has neither.

    Media is dropped on SMS, except that a card with only a picture would otherwise say nothing.
    """
    if card.title is None and card.description is None:
        return [card.media or ""]
    return [card.title or "", card.description or ""]


def _carousel_card_lines(card: Card, numbered: Iterator[Choice], shown: bool) -> list[str]:
    """One card of a carousel, taking its choices from the carousel's running numbering.

    A card with a single reply is one numbered line named after the card (the reply label when
    the card has no title): `ChoiceMap` accepts the card title as an alias for that reply.
    """
    count = sum(isinstance(s, Reply) for s in card.suggestions)
    card_choices = [next(numbered) for _ in range(count)]
    if len(card_choices) == 1 and shown:
        (choice,) = card_choices
        details = card.description or (card.media if card.title is None else None)
        return [f"{choice.number} {card.title or choice.label}", details or ""]
    return [*_card_text(card), *_choice_lines(card_choices, shown)]


def _media_url(content: Image | Video | File) -> str:
    match content:
        case Image():
            return content.image
        case Video():
            return content.video
        case File():
            return content.file
        case _:
            assert_never(content)


def _action_lines(suggestions: Iterable[Suggestion]) -> list[str]:
    """`label : value` for each action, French typography (a space before the colon)."""
    lines = []
    for suggestion in suggestions:
        value = _action_value(suggestion)
        if value is not None:
            lines.append(f"{suggestion.text} : {value}")
    return lines


def _action_value(suggestion: Suggestion) -> str | None:
    """What an action shows after its label; None for what has no SMS form."""
    match suggestion:
        case Reply() | ShareLocation():
            return None
        case OpenUrl():
            return suggestion.url
        case Dial():
            phone = suggestion.phone
            return phone.national if phone.region in _FRENCH_PLAN_REGIONS else phone.e164
        case ShowLocation():
            return _maps_link(suggestion.location)
        case AddToCalendar():
            return _date_range(suggestion.calendar)
        case _:
            assert_never(suggestion)


def _maps_link(place: Place) -> str:
    if place.lat is not None and place.lng is not None:
        return f"{MAPS_URL}{_coordinate(place.lat)},{_coordinate(place.lng)}"
    return MAPS_URL + quote_plus(place.query or "", safe=",")


def _coordinate(value: float) -> str:
    """Decimal degrees without exponent or trailing zeros; 7 decimals is about a centimetre."""
    return f"{value:.7f}".rstrip("0").rstrip(".")


def _date_range(event: CalendarEvent) -> str:
    """`12/12/2026 10:00 - 11:00` on one day, `12/12/2026 10:00 - 13/12/2026 09:00` otherwise.

    The datetimes are shown as given, each in its own offset.
    """
    start = _french_datetime(event.start)
    if event.start.date() == event.end.date():
        return f"{start}{DATE_RANGE_SEPARATOR}{event.end:%H:%M}"
    return f"{start}{DATE_RANGE_SEPARATOR}{_french_datetime(event.end)}"


def _french_datetime(moment: datetime) -> str:
    return f"{moment:%d/%m/%Y %H:%M}"


def _compact(parts: Iterable[str]) -> str:
    """Parts joined by newlines, each line without trailing spaces, empty lines dropped."""
    lines = (line.rstrip() for part in parts for line in part.split("\n"))
    return "\n".join(line for line in lines if line)
