"""Reading the answer to an `ask` step: one value from what a French recipient typed.

`read_answer` is generous in what it accepts (`12,5`, `je dirais 8`, `le 13 déc.`, `ouais`) and
precise in what it stores (`12.5`, `8`, `2026-12-13`, `True`): JSON values a template or an HTTP
call can use as they are. It never guesses between two readings: `entre 3 et 5` or `le 13 ou le
14` are refused, and the flow's `retry` asks again. Dates and times live in `flows.answer_dates`.

Why hand-written rather than `dateparser`: that library brings locale data for some two hundred
languages and the `regex`, `dateutil`, `pytz` and `tzlocal` packages (several megabytes
installed), takes a noticeable fraction of a second to import, and guesses the language of each
input unless told not to. Its `PREFER_DATES_FROM` setting has had reported bugs with weekdays
and incomplete dates, exactly the forms we need. We read a fixed, small set of French forms with
rules of our own (next occurrence on or after today, a weekday strictly after), which fit in a
page of regular expressions tested form by form in `tests/flows/test_answers.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

from email_validator import EmailNotValidError, validate_email

from flows.answer_dates import read_date, read_time
from flows.schema import AskType
from messaging.phone import InvalidPhoneError, Phone
from messaging.suggestions import Reply
from messaging.text import fold


@dataclass(frozen=True, slots=True)
class Answer:
    """A valid answer; `value` is what the flow variable stores (str, int, float or bool)."""

    value: Any


@dataclass(frozen=True, slots=True)
class Rejected:
    """An invalid answer; `reason` is for logs and tests, the recipient sees the flow's `retry`."""

    reason: str


@dataclass(frozen=True, slots=True)
class _Question:
    text: str
    data: str | None
    choices: Sequence[Reply]
    pattern: re.Pattern[str] | None
    minimum: float | None
    maximum: float | None
    today: date


def read_answer(
    kind: str,
    text: str,
    *,
    data: str | None = None,
    choices: Sequence[Reply] = (),
    pattern: re.Pattern[str] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    today: date,
) -> Answer | Rejected:
    """Read `text` (and `data`, the postback of a tapped chip or recognised SMS number) as `kind`.

    `minimum`/`maximum` (inclusive) bound `number` and `integer`; `choices` serve `choice`;
    `pattern` serves `regex`. Raises ValueError for a question that cannot be asked (an unknown
    kind, `choice` without choices, `regex` without a pattern): that is a flow bug, not an answer.
    """
    try:
        reader = _READERS[AskType(kind)]
    except ValueError:
        raise ValueError(f"unknown answer type {kind!r}") from None
    if kind == AskType.CHOICE and not choices:
        raise ValueError("a choice question needs choices")
    if kind == AskType.REGEX and pattern is None:
        raise ValueError("a regex question needs a pattern")
    if not text.strip():
        if data is None:
            return Rejected("empty answer")
        text = data  # a tapped chip sent without its label: its data is the answer given
    question = _Question(text, data, choices, pattern, minimum, maximum, today)
    if data is not None and kind in _DATA_FIRST:
        # A chip's data is the business's own spelling of the value (`10` behind `Très
        # satisfait`, `2026-12-13` behind `Dans 15 jours`), so it wins when it reads as one.
        from_data = reader(replace(question, text=data, data=None))
        if isinstance(from_data, Answer):
            return from_data
    return reader(question)


def _text(question: _Question) -> Answer | Rejected:
    return Answer(question.text.strip())


# Spaces only group thousands (`1 000`); a dot or comma is always a decimal mark, since `1.000`
# is a thousand to some people and one to others, and one of the two readings has to win.
_NUMBER = re.compile(
    r"(?<![\w.,/-])(?P<sign>[-+−]?)"
    r"(?P<whole>[0-9]{1,3}(?:[ \u00a0\u202f][0-9]{3})+|[0-9]+)(?:[.,](?P<fraction>[0-9]+))?"
    r"(?![\w/]|[.,][0-9])"
)
_DIGIT = re.compile(r"[0-9]")
# Beyond 15 digits a float is no longer exact and a huge int breaks `json.dumps`; such values
# are identifiers, which a `regex` question collects better.
_MAX_WHOLE_DIGITS = 15


def _number(question: _Question) -> Answer | Rejected:
    found = list(_NUMBER.finditer(question.text))
    if len(found) != 1:
        return Rejected("several numbers" if len(found) > 1 else "not a number")
    match = found[0]
    if _DIGIT.search(question.text[: match.start()] + question.text[match.end() :]):
        # Digits the pattern would not take (`8/10`, `1.000.000`, `10h`) make the answer
        # ambiguous; a retry is cheaper than a wrong score.
        return Rejected("not a single number")
    whole = re.sub(r"\D", "", match["whole"]).lstrip("0") or "0"
    if len(whole) > _MAX_WHOLE_DIGITS:
        return Rejected("number too large")
    amount = Decimal(f"{whole}.{match['fraction'] or '0'}")
    if match["sign"] in ("-", "−"):
        amount = -amount
    value: int | float = int(amount) if amount == amount.to_integral_value() else float(amount)
    if question.minimum is not None and value < question.minimum:
        return Rejected(f"below the minimum {question.minimum:g}")
    if question.maximum is not None and value > question.maximum:
        return Rejected(f"above the maximum {question.maximum:g}")
    return Answer(value)


def _integer(question: _Question) -> Answer | Rejected:
    answer = _number(question)
    if isinstance(answer, Answer) and not isinstance(answer.value, int):
        return Rejected("not a whole number")
    return answer


def _date(question: _Question) -> Answer | Rejected:
    try:
        return Answer(read_date(question.text, today=question.today))
    except ValueError as error:
        return Rejected(str(error))


def _time(question: _Question) -> Answer | Rejected:
    try:
        return Answer(read_time(question.text))
    except ValueError as error:
        return Rejected(str(error))


_AROUND_EMAIL = " \t\n.,;:!?()<>[]{}'\"«»“”’"


def _email(question: _Question) -> Answer | Rejected:
    text = question.text.strip()
    candidates = [word.strip(_AROUND_EMAIL) for word in text.split() if "@" in word]
    if len(candidates) == 1:
        # `c'est jean@exemple.fr merci`: the one word with an @ is the address.
        text = candidates[0]
    try:
        return Answer(validate_email(text, check_deliverability=False).normalized)
    except EmailNotValidError as error:
        return Rejected(f"not an email address: {error}")


def _phone(question: _Question) -> Answer | Rejected:
    try:
        return Answer(Phone(question.text.strip()).e164)
    except InvalidPhoneError:
        return Rejected("not a phone number")


def _choice(question: _Question) -> Answer | Rejected:
    if question.data is not None:
        for choice in question.choices:
            if choice.postback == question.data:
                return Answer(choice.postback)
    typed = _choice_key(question.text)
    # Labels first: a typed `Annuler` is the chip labelled so, whatever another chip's data is.
    for choice in question.choices:
        if _choice_key(choice.text) == typed:
            return Answer(choice.postback)
    for choice in question.choices:
        if _choice_key(choice.postback) == typed:
            return Answer(choice.postback)
    return Rejected("not one of the choices")


def _choice_key(text: str) -> str:
    # Beyond `fold`, inner punctuation too: `rendez vous` is `Rendez-vous`, `deplacer_le_rdv`
    # (a slug) is `déplacer le rdv`.
    # Labels made only of emoji or signs keep their folded form rather than all becoming ``.
    folded = fold(text)
    return " ".join(word for word in re.split(r"[\W_]+", folded) if word) or folded


def _regex(question: _Question) -> Answer | Rejected:
    text = question.text.strip()
    if question.pattern is not None and question.pattern.fullmatch(text):
        return Answer(text)
    return Rejected("does not match the pattern")


_YES = frozenset(
    ["oui", "o", "ouais", "ouai", "ouaip", "yes", "y", "ok", "okay", "oki", "d'accord", "daccord",
     "dacc", "bien sur", "exact", "exactement", "tout a fait", "volontiers", "absolument",
     "certainement", "parfait", "oui oui", "oui bien sur", "bien sur que oui", "👍", "✅"]
)  # fmt: skip
_NO = frozenset(
    ["non", "n", "no", "nan", "nope", "pas du tout", "absolument pas", "surtout pas",
     "pas question", "non non", "jamais", "👎", "❌"]
)  # fmt: skip
_YES_DATA = frozenset(["yes", "oui", "true"])
_NO_DATA = frozenset(["no", "non", "false"])
# Politeness around the answer changes nothing: `Oui merci !`, `non merci beaucoup`.
_POLITE = re.compile(r"(?:^|\s)(?:merci|beaucoup|bcp|svp|stp|s'il (?:vous|te) plait)(?=\s|$)")
_NOT_WORD = re.compile(r"[^\w'👍👎✅❌]+")
# Skin tones and the emoji presentation selector: `👍🏽` is still a thumbs-up.
_EMOJI_MODIFIERS = re.compile("[\U0001f3fb-\U0001f3ff\ufe0f]")


def _yes_no(question: _Question) -> Answer | Rejected:
    if question.data is not None:
        data = fold(question.data)
        if data in _YES_DATA or data in _NO_DATA:
            return Answer(data in _YES_DATA)
    phrase = _NOT_WORD.sub(" ", _EMOJI_MODIFIERS.sub("", fold(question.text.replace("’", "'"))))
    phrase = " ".join(_POLITE.sub(" ", phrase).split())
    if phrase in _YES:
        return Answer(True)
    if phrase in _NO:
        return Answer(False)
    return Rejected("neither yes nor no")


_READERS: dict[AskType, Callable[[_Question], Answer | Rejected]] = {
    AskType.TEXT: _text,
    AskType.NUMBER: _number,
    AskType.INTEGER: _integer,
    AskType.DATE: _date,
    AskType.TIME: _time,
    AskType.EMAIL: _email,
    AskType.PHONE: _phone,
    AskType.CHOICE: _choice,
    AskType.REGEX: _regex,
    AskType.YES_NO: _yes_no,
}
# Kinds whose value a chip's data can spell; `text` and `regex` keep what the recipient wrote,
# while `choice` and `yes_no` read the data themselves.
_DATA_FIRST = frozenset(
    [AskType.NUMBER, AskType.INTEGER, AskType.DATE, AskType.TIME, AskType.EMAIL,
     AskType.PHONE]
)  # fmt: skip
