"""Dates and times as French recipients type them in an SMS or RCS chat (see `flows.answers`).

Both readers search the folded text for every date (or time) expression, so `plutôt le 13/12
svp` works; they succeed only when all expressions found name the same value, so `le 13 ou le
14` is refused rather than guessed. They raise `ValueError` whose message is the short English
reason that `flows.answers.Rejected` carries.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from datetime import date, timedelta

from messaging.text import fold

MONTHS = {
    "janvier": 1, "janv": 1, "jan": 1,
    "fevrier": 2, "fevr": 2, "fev": 2,
    "mars": 3,
    "avril": 4, "avr": 4,
    "mai": 5,
    "juin": 6,
    "juillet": 7, "juil": 7,
    "aout": 8,
    "septembre": 9, "sept": 9, "sep": 9,
    "octobre": 10, "oct": 10,
    "novembre": 11, "nov": 11,
    "decembre": 12, "dec": 12,
}  # fmt: skip
WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
# Three-letter abbreviations (`sam`, `mer`) are ordinary words too, so they only count when a
# day number follows them.
_WEEKDAY_ABBREVIATIONS = {name[:3]: index for index, name in enumerate(WEEKDAYS)}
_RELATIVE_DAYS = {"aujourd'hui": 0, "aujourdhui": 0, "auj": 0, "demain": 1}


def _alternatives(names: Iterable[str]) -> str:
    # Longest first so that `septembre` is not read as `sep` followed by garbage.
    return "|".join(sorted(names, key=len, reverse=True))


# Any two digits, so that `32 décembre` is refused as impossible rather than half-read.
_DAY = r"[0-9]{1,2}(?:er)?"
_WEEKDAY = _alternatives(WEEKDAYS)
_ANY_WEEKDAY = _alternatives([*WEEKDAYS, *_WEEKDAY_ABBREVIATIONS])
_DATE = re.compile(
    rf"""
    (?<![\w/.-])(?:
        (?:(?P<weekday>{_ANY_WEEKDAY})\.?\s+)?(?P<le>le\s+)?
        (?:
            (?P<iso_year>[0-9]{{4}})-(?P<iso_month>[0-9]{{1,2}})-(?P<iso_day>[0-9]{{1,2}})
          | (?P<num_day>[0-9]{{1,2}})(?P<sep>[/.-])(?P<num_month>[0-9]{{1,2}})
            (?:(?P=sep)(?P<num_year>[0-9]{{4}}|[0-9]{{2}}))?
          | (?P<day>{_DAY})\s+(?P<month>{_alternatives(MONTHS)})\.?(?:\s+(?P<year>[0-9]{{4}}))?
          | (?P<day_only>{_DAY})
        )
      | (?P<relative>apres[- ]?demain|{_alternatives(_RELATIVE_DAYS)})
      | (?P<weekday_only>{_WEEKDAY})(?:\s+prochain)?
    )(?![\w/]|[.-][0-9])
    """,
    re.VERBOSE,
)

_TIME = re.compile(
    r"""
    (?<![\w:])(?:
        (?P<hour>[0-9]{1,2})\s*(?:
            (?:h|heures?)\s*(?:(?P<minute>[0-9]{2})|et\s+(?P<fraction>demie?|quart))?
          | :(?P<colon_minute>[0-9]{2})
        )
      | (?<!apres[- ])(?P<named>midi|minuit)(?:\s+et\s+(?P<named_fraction>demie?|quart))?
    )(?![\w:])
    """,
    re.VERBOSE,
)
_LEAP_YEAR = 2028  # where every month has its longest length
_FRACTIONS = {"demi": 30, "demie": 30, "quart": 15}


def _folded(text: str) -> str:
    return fold(text.replace("’", "'").replace("‘", "'"))


def _single(found: set[str], errors: list[str], what: str) -> str:
    # An impossible reading beside a possible one is usually something else (`10.30` is a time
    # in `le 13/12 à 10.30`), so it only counts when nothing else was found.
    if not found:
        raise ValueError(errors[0] if errors else f"not a {what}")
    if len(found) > 1:
        raise ValueError(f"several {what}s")
    return found.pop()


def read_date(text: str, *, today: date) -> str:
    """`13/12`, `13 déc.`, `lundi`, `demain`... -> `YYYY-MM-DD`.

    Without a year the date is the next one on or after `today`; a weekday alone is the next one
    strictly after `today` (`jeudi` said on a Thursday means next week).
    """
    found: set[str] = set()
    errors: list[str] = []
    for match in _DATE.finditer(_folded(text)):
        if match["day_only"] and not (match["le"] or match["weekday"]):
            # `13` alone is a number, not a date: a bare day counts after `le` or a weekday.
            continue
        try:
            found.add(_date_of(match, today).isoformat())
        except ValueError as error:
            errors.append(str(error))
    return _single(found, errors, "date")


def _date_of(match: re.Match[str], today: date) -> date:
    if match["relative"]:
        offset = 2 if match["relative"].startswith("apres") else _RELATIVE_DAYS[match["relative"]]
        return today + timedelta(days=offset)
    if match["weekday_only"]:
        ahead = (WEEKDAYS.index(match["weekday_only"]) - today.weekday() - 1) % 7 + 1
        return today + timedelta(days=ahead)
    if match["iso_year"]:
        found = _exact(int(match["iso_year"]), int(match["iso_month"]), int(match["iso_day"]))
        return _check_weekday(found, match["weekday"])
    if match["num_day"]:
        day, month, year = int(match["num_day"]), int(match["num_month"]), match["num_year"]
    elif match["day"]:
        day, month, year = _day_number(match["day"]), MONTHS[match["month"]], match["year"]
    else:
        found = _next_day_of_month(_day_number(match["day_only"]), today)
        return _check_weekday(found, match["weekday"])
    if year is None:
        found = _next_day_and_month(day, month, today)
    else:
        # Two-digit years are this century: the flows book appointments, not birthdays.
        found = _exact(int(year) + (2000 if len(year) == 2 else 0), month, day)
    return _check_weekday(found, match["weekday"])


def _day_number(day: str) -> int:
    return int(day.removesuffix("er"))


def _exact(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError("impossible date") from None


def _next_day_and_month(day: int, month: int, today: date) -> date:
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(_LEAP_YEAR, month)[1]:
        raise ValueError("impossible date")
    year = today.year if (month, day) >= (today.month, today.day) else today.year + 1
    if month == 2 and day == 29 and not calendar.isleap(year):
        # Said in November 2026, `29/02` means the coming February, which has no 29th: asking
        # again beats silently booking 2028.
        raise ValueError(f"no 29 February in {year}")
    return date(year, month, day)


def _next_day_of_month(day: int, today: date) -> date:
    if not 1 <= day <= 31:
        raise ValueError("impossible date")
    year, month = today.year, today.month
    if day < today.day:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    while day > calendar.monthrange(year, month)[1]:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return date(year, month, day)


def _check_weekday(found: date, weekday: str | None) -> date:
    # `mardi 14 décembre` when the 14th is a Monday: one of the two is wrong, so ask again.
    if weekday is not None and found.weekday() != WEEKDAYS.index(_full_weekday(weekday)):
        raise ValueError(f"{found.isoformat()} is not a {_full_weekday(weekday)}")
    return found


def _full_weekday(name: str) -> str:
    return WEEKDAYS[_WEEKDAY_ABBREVIATIONS[name[:3]]]


def read_time(text: str) -> str:
    """`10h`, `10 h 30`, `10:30`, `midi`, `midi et demi`... -> `HH:MM` (no AM/PM guessing)."""
    found: set[str] = set()
    errors: list[str] = []
    for match in _TIME.finditer(_folded(text)):
        if match["named"]:
            hour = 12 if match["named"] == "midi" else 0
            minute = _FRACTIONS.get(match["named_fraction"] or "", 0)
        else:
            hour = int(match["hour"])
            minutes = match["minute"] or match["colon_minute"]
            minute = int(minutes) if minutes else _FRACTIONS.get(match["fraction"] or "", 0)
        if hour > 23 or minute > 59:
            errors.append("impossible time")
        else:
            found.add(f"{hour:02d}:{minute:02d}")
    return _single(found, errors, "time")
