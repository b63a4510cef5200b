"""Reading `ask` answers: what French recipients type, and what the flow variable stores."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.answers import Answer, Rejected, read_answer
from flows.schema import AskType
from messaging.suggestions import Reply

TODAY = date(2026, 11, 26)  # a Thursday
CHOICES = (
    Reply(reply="Je confirme", data="confirm"),
    Reply(reply="Annuler", data="cancel"),
    Reply(reply="Déplacer le rendez-vous"),  # data defaults to the slug of the label
)
POSTCODE = re.compile(r"[0-9]{5}")


def read(kind: str, text: str, **options: Any) -> Answer | Rejected:
    options.setdefault("today", TODAY)
    if kind == "choice":
        options.setdefault("choices", CHOICES)
    if kind == "regex":
        options.setdefault("pattern", POSTCODE)
    return read_answer(kind, text, **options)


def accepted(kind: str, text: str, **options: Any) -> Any:
    answer = read(kind, text, **options)
    assert isinstance(answer, Answer), f"{text!r} as {kind}: {answer}"
    return answer.value


def rejected(kind: str, text: str, **options: Any) -> str:
    answer = read(kind, text, **options)
    assert isinstance(answer, Rejected), f"{text!r} as {kind} gave {answer}"
    return answer.reason


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Bonjour", "Bonjour"),
        ("  Jean Dupont \n", "Jean Dupont"),
        ("2", "2"),
        ("Pas de préférence !", "Pas de préférence !"),
    ],
)
def test_text_is_stored_stripped(text: str, value: str) -> None:
    assert accepted("text", text) == value


@pytest.mark.parametrize("kind", list(AskType))
@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\u00a0"])
def test_every_kind_rejects_a_blank_answer(kind: str, text: str) -> None:
    assert rejected(kind, text) == "empty answer"


@pytest.mark.parametrize(("kind", "data", "value"), [("yes_no", "yes", True), ("integer", "7", 7)])
def test_a_chip_tapped_without_its_label_answers_with_its_data(
    kind: str, data: str, value: object
) -> None:
    assert accepted(kind, "", data=data) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", 12),
        ("12.5", 12.5),
        ("12,5", 12.5),
        ("12,0", 12),
        ("1 000", 1000),
        ("1\u202f000,50", 1000.5),
        ("10 000 000", 10_000_000),
        ("-3", -3),
        ("−3", -3),
        ("+4", 4),
        ("007", 7),
        ("0", 0),
        ("je dirais 8", 8),
        ("8 !", 8),
        ("Note : 9.", 9),
        ("20€", 20),
        ("20 euros", 20),
        ("environ 3,5 kg", 3.5),
    ],
)
def test_numbers(text: str, value: float) -> None:
    stored = accepted("number", text)
    assert stored == value
    # `8`, not `8.0`: the variable ends up in templates and JSON bodies.
    assert type(stored) is type(value)


@pytest.mark.parametrize(
    "text",
    [
        "douze",
        "entre 3 et 5",
        "3 ou 4",
        "10/10",
        "8/10",
        "3-5",
        "1,2,3",
        "1.000.000",
        "10h",
        "10kg",
        "le 2e",
        "abc",
        "8 10",
    ],
)
def test_numbers_rejected(text: str) -> None:
    rejected("number", text)


@pytest.mark.parametrize(
    ("text", "minimum", "maximum", "ok"),
    [
        ("0", 0, 10, True),
        ("10", 0, 10, True),
        ("5,5", 0, 10, True),
        ("-1", 0, 10, False),
        ("11", 0, 10, False),
        ("10,5", 0, 10, False),
        ("1000", 0, None, True),
        ("-5", None, 0, True),
        ("0,5", 1, None, False),
    ],
)
def test_number_bounds_are_inclusive(
    text: str, minimum: float | None, maximum: float | None, ok: bool
) -> None:
    answer = read("number", text, minimum=minimum, maximum=maximum)
    assert isinstance(answer, Answer) is ok, answer


def test_bound_reasons_name_the_bound() -> None:
    assert rejected("number", "11", minimum=0, maximum=10) == "above the maximum 10"
    assert rejected("integer", "-2", minimum=0, maximum=10) == "below the minimum 0"


@pytest.mark.parametrize(
    ("text", "value"),
    [("3", 3), ("il y en a 4", 4), ("1 200", 1200), ("-2", -2), ("12,0", 12), ("2.00", 2)],
)
def test_integers(text: str, value: int) -> None:
    stored = accepted("integer", text)
    assert stored == value
    assert type(stored) is int


@pytest.mark.parametrize("text", ["12,5", "0.1", "deux", "2 ou 3"])
def test_integers_rejected(text: str) -> None:
    rejected("integer", text)


@pytest.mark.parametrize(
    ("text", "value"),
    [("999 999 999 999 999", 999_999_999_999_999), ("0000000000000000000001", 1)],
)
def test_numbers_up_to_fifteen_digits(text: str, value: int) -> None:
    assert accepted("number", text) == value


@pytest.mark.parametrize("text", ["1 000 000 000 000 000", "9" * 5000])
def test_longer_numbers_are_rejected_not_stored(text: str) -> None:
    # A 5000-digit int would make `json.dumps` raise when the variable is saved.
    assert rejected("number", text) == "number too large"


def test_integer_bounds() -> None:
    assert accepted("integer", "4", minimum=1, maximum=4) == 4
    rejected("integer", "5", minimum=1, maximum=4)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("13/12", "2026-12-13"),
        ("13/01", "2027-01-13"),
        ("26/11", "2026-11-26"),  # today is still "on or after today"
        ("25/11", "2027-11-25"),
        ("1/2", "2027-02-01"),
        ("13/12/2026", "2026-12-13"),
        ("13/12/26", "2026-12-13"),
        ("13-12-2026", "2026-12-13"),
        ("13.12.2026", "2026-12-13"),
        ("2026-12-13", "2026-12-13"),
        ("13/12/2020", "2020-12-13"),  # an explicit year is taken as written
        ("13 décembre", "2026-12-13"),
        ("13 decembre", "2026-12-13"),
        ("13 dec", "2026-12-13"),
        ("13 Déc.", "2026-12-13"),
        ("13 DÉCEMBRE 2026", "2026-12-13"),
        ("13 décembre 2027", "2027-12-13"),
        ("le 13 décembre", "2026-12-13"),
        ("Le 13/12 svp", "2026-12-13"),
        ("plutôt le 13 décembre à 10h", "2026-12-13"),
        ("lundi 14 décembre", "2026-12-14"),
        ("lundi 14/12", "2026-12-14"),
        ("sam. 12 déc.", "2026-12-12"),
        ("1er janvier", "2027-01-01"),
        ("1ᵉʳ janvier", "2027-01-01"),
        ("2 janv", "2027-01-02"),
        ("14 février", "2027-02-14"),
        ("14 fevrier", "2027-02-14"),
        ("14 fev", "2027-02-14"),
        ("3 mars", "2027-03-03"),
        ("3 avr", "2027-04-03"),
        ("8 mai", "2027-05-08"),
        ("21 juin", "2027-06-21"),
        ("14 juil", "2027-07-14"),
        ("15 août", "2027-08-15"),
        ("15 aout", "2027-08-15"),
        ("9 sept", "2027-09-09"),
        ("31 oct", "2027-10-31"),
        ("30 nov", "2026-11-30"),
        ("aujourd'hui", "2026-11-26"),
        ("Aujourd’hui", "2026-11-26"),
        ("aujourdhui", "2026-11-26"),
        ("demain", "2026-11-27"),
        ("Demain matin", "2026-11-27"),
        ("après-demain", "2026-11-28"),
        ("apres demain", "2026-11-28"),
        ("lundi", "2026-11-30"),
        ("Lundi prochain", "2026-11-30"),
        ("mercredi", "2026-12-02"),
        ("jeudi", "2026-12-03"),  # a weekday alone is strictly after today
        ("vendredi", "2026-11-27"),
        ("le 14", "2026-12-14"),
        ("le 30", "2026-11-30"),
        ("le 31", "2026-12-31"),  # November has no 31st: the next month that has one
        ("lundi 30", "2026-11-30"),
        ("rdv pour 2 personnes le 13/12", "2026-12-13"),
        ("29/02/2028", "2028-02-29"),
        ("demain, le 27/11", "2026-11-27"),  # two spellings of one date
        ("le 13/12 à 10.30", "2026-12-13"),  # `10.30` cannot be a date, so it is not one
        ("lundi 14h", "2026-11-30"),
    ],
)
def test_dates(text: str, value: str) -> None:
    assert accepted("date", text) == value


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("31/02", "impossible date"),
        ("31/04/2027", "impossible date"),
        ("30 février", "impossible date"),
        ("32/12", "impossible date"),
        ("00/12", "impossible date"),
        ("13/13", "impossible date"),
        ("12/25", "impossible date"),  # no month-first guessing
        ("2026-02-30", "impossible date"),
        ("29/02/2027", "impossible date"),
        ("13", "not a date"),
        ("1312", "not a date"),
        ("bientôt", "not a date"),
        ("sam", "not a date"),
        ("décembre", "not a date"),
        ("10h30", "not a date"),
        ("le 13 ou le 14", "several dates"),
        ("demain ou lundi", "several dates"),
        ("mardi 14 décembre", "2026-12-14 is not a mardi"),
        ("vendredi 14", "2026-12-14 is not a vendredi"),
        ("le 32", "impossible date"),
    ],
)
def test_dates_rejected(text: str, reason: str) -> None:
    assert rejected("date", text) == reason


def test_29_february_without_a_year_means_the_coming_february() -> None:
    # Said in November 2026 the coming February is 2027's, which has no 29th: most likely a
    # slip, so the recipient is asked again rather than booked fifteen months away.
    assert rejected("date", "29/02") == "no 29 February in 2027"
    assert rejected("date", "29 février") == "no 29 February in 2027"
    assert accepted("date", "29/02", today=date(2027, 11, 26)) == "2028-02-29"
    assert accepted("date", "29/02", today=date(2028, 2, 29)) == "2028-02-29"


def test_relative_dates_cross_years() -> None:
    new_year_eve = date(2026, 12, 31)
    assert accepted("date", "demain", today=new_year_eve) == "2027-01-01"
    assert accepted("date", "le 5", today=new_year_eve) == "2027-01-05"
    assert accepted("date", "31/12", today=new_year_eve) == "2026-12-31"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("10h", "10:00"),
        ("10h30", "10:30"),
        ("10 h 30", "10:30"),
        ("10:30", "10:30"),
        ("10H30", "10:30"),
        ("9h05", "09:05"),
        ("9h", "09:00"),
        ("14h", "14:00"),
        ("14h00", "14:00"),
        ("0h30", "00:30"),
        ("23h59", "23:59"),
        ("midi", "12:00"),
        ("Midi !", "12:00"),
        ("minuit", "00:00"),
        ("midi et demi", "12:30"),
        ("10h et quart", "10:15"),
        ("10 heures", "10:00"),
        ("10 heures 30", "10:30"),
        ("vers 10h svp", "10:00"),
        ("à 14h30", "14:30"),
        ("12h, midi", "12:00"),
        ("lundi 13/12 à 10h", "10:00"),
    ],
)
def test_times(text: str, value: str) -> None:
    assert accepted("time", text) == value


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("25h", "impossible time"),
        ("24h", "impossible time"),
        ("10h75", "impossible time"),
        ("99:99", "impossible time"),
        ("10", "not a time"),
        ("10h7", "not a time"),
        ("125h", "not a time"),
        ("cet après-midi", "not a time"),
        ("le matin", "not a time"),
        ("10h-11h", "several times"),
        ("entre 14h et 16h", "several times"),
    ],
)
def test_times_rejected(text: str, reason: str) -> None:
    assert rejected("time", text) == reason


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("jean.dupont@exemple.fr", "jean.dupont@exemple.fr"),
        ("  Jean.Dupont@Exemple.FR ", "Jean.Dupont@exemple.fr"),
        ("c'est jean@exemple.fr merci", "jean@exemple.fr"),
        ("<jean@exemple.fr>.", "jean@exemple.fr"),
    ],
)
def test_emails(text: str, value: str) -> None:
    assert accepted("email", text) == value


@pytest.mark.parametrize(
    "text", ["jean", "jean@", "jean@exemple", "jean @exemple.fr", "a@b.fr ou c@d.fr", "x@y.test"]
)
def test_emails_rejected(text: str) -> None:
    assert rejected("email", text).startswith("not an email address")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("06 12 34 56 78", "+33612345678"),
        ("0612345678", "+33612345678"),
        ("06.12.34.56.78", "+33612345678"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("0033612345678", "+33612345678"),
        ("01 23 45 67 89", "+33123456789"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_phones(text: str, value: str) -> None:
    assert accepted("phone", text) == value


@pytest.mark.parametrize("text", ["12", "06 12 34", "pas de téléphone", "06 12 34 56 78 90 12"])
def test_phones_rejected(text: str) -> None:
    assert rejected("phone", text) == "not a phone number"


@pytest.mark.parametrize(
    ("text", "data", "value"),
    [
        ("Je confirme", "confirm", "confirm"),
        ("2", "cancel", "cancel"),  # an SMS number the caller already mapped
        ("n'importe quoi", "cancel", "cancel"),  # the data of a tapped chip wins
        ("annuler", None, "cancel"),
        ("ANNULER !", None, "cancel"),
        ("je confirme", None, "confirm"),
        ("déplacer le rendez vous", None, "deplacer_le_rendez_vous"),
        ("Déplacer le rendez-vous", None, "deplacer_le_rendez_vous"),
        ("cancel", None, "cancel"),  # the data typed as text
        ("Confirm", "unknown", "confirm"),  # unknown data: the text still counts
    ],
)
def test_choices(text: str, data: str | None, value: str) -> None:
    assert accepted("choice", text, data=data) == value


@pytest.mark.parametrize(
    ("text", "data"),
    [("2", None), ("1", None), ("oui", None), ("annul", None), ("autre", "other")],
)
def test_choices_rejected(text: str, data: str | None) -> None:
    # A typed number is not read here: only the caller knows the SMS numbering.
    assert rejected("choice", text, data=data) == "not one of the choices"


def test_choice_labels_win_over_data() -> None:
    choices = (Reply(reply="Oui", data="non"), Reply(reply="Non", data="oui"))
    assert accepted("choice", "non", choices=choices) == "oui"


def test_emoji_choices_stay_apart() -> None:
    choices = (Reply(reply="👍", data="up"), Reply(reply="👎", data="down"))
    assert accepted("choice", "👎", choices=choices) == "down"
    assert rejected("choice", "?!", choices=choices) == "not one of the choices"


@pytest.mark.parametrize(
    ("text", "value"),
    [("75011", "75011"), (" 13001 ", "13001")],
)
def test_regex(text: str, value: str) -> None:
    assert accepted("regex", text) == value


@pytest.mark.parametrize("text", ["7501", "750111", "mon code est 75011", "ABCDE"])
def test_regex_rejected(text: str) -> None:
    assert rejected("regex", text) == "does not match the pattern"


def test_regex_uses_the_flags_of_the_pattern() -> None:
    pattern = re.compile(r"[a-z]{2}-[0-9]+", re.IGNORECASE)
    assert accepted("regex", "AB-12", pattern=pattern) == "AB-12"


YES = ["oui", "Oui", "OUI !", "o", "ouais", "yes", "y", "ok", "OK", "d'accord", "D’accord",
       "daccord", "bien sur", "Bien sûr.", "exact", "tout a fait", "tout à fait", "Tout-à-fait",
       "volontiers", "oui merci", "Oui, merci beaucoup !", "oui svp", "oui s'il vous plaît",
       "👍", "👍🏽", "👍️"]  # fmt: skip
NO = ["non", "NON", "Non.", "n", "no", "nan", "pas du tout", "non merci", "Non, merci !", "👎",
      "👎🏻"]  # fmt: skip


@pytest.mark.parametrize("text", YES)
def test_yes(text: str) -> None:
    assert accepted("yes_no", text) is True


@pytest.mark.parametrize("text", NO)
def test_no(text: str) -> None:
    assert accepted("yes_no", text) is False


@pytest.mark.parametrize(
    "text", ["peut-être", "oui non", "oui mais non", "merci", "je ne sais pas", "pas", "1", "😀"]
)
def test_yes_no_rejected(text: str) -> None:
    assert rejected("yes_no", text) == "neither yes nor no"


@pytest.mark.parametrize(
    ("data", "value"),
    [("yes", True), ("oui", True), ("OUI", True), ("no", False), ("non", False)],
)
def test_yes_no_data(data: str, value: bool) -> None:
    assert accepted("yes_no", "Carrément", data=data) is value


def test_yes_no_unknown_data_falls_back_to_the_text() -> None:
    assert accepted("yes_no", "Oui", data="confirm") is True


@pytest.mark.parametrize(
    ("kind", "text", "data", "value"),
    [
        ("number", "Très satisfait", "10", 10),
        ("number", "Top 3", "5", 5),
        ("integer", "Deux", "2", 2),
        ("date", "Dans quinze jours", "2026-12-10", "2026-12-10"),
        ("time", "En fin de matinée", "11h30", "11:30"),
        ("number", "7", "option_b", 7),  # data that is not a number: the text counts
        ("number", "7", "12", 7),  # data out of bounds: the text counts
        ("text", "Demain", "tomorrow", "Demain"),
        ("regex", "75011", "paris_11", "75011"),
    ],
)
def test_chip_data_is_read_first_for_typed_kinds(
    kind: str, text: str, data: str, value: object
) -> None:
    assert accepted(kind, text, data=data, minimum=0, maximum=10) == value


def test_kind_may_be_a_plain_string_or_the_enum() -> None:
    assert read_answer("integer", "3", today=TODAY) == read_answer(
        AskType.INTEGER, "3", today=TODAY
    )


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("colour", {}, "unknown answer type 'colour'"),
        ("choice", {"choices": ()}, "a choice question needs choices"),
        ("regex", {"pattern": None}, "a regex question needs a pattern"),
    ],
)
def test_questions_that_cannot_be_asked_are_errors(
    kind: str, options: dict[str, Any], message: str
) -> None:
    # A flow bug, caught loudly, never a silent retry loop for the recipient.
    with pytest.raises(ValueError, match=re.escape(message)):
        read(kind, "oui", **options)


@given(kind=st.sampled_from(list(AskType)), text=st.text(max_size=60))
def test_any_text_gives_an_answer_or_a_rejection(kind: AskType, text: str) -> None:
    answer = read(kind, text)
    assert isinstance(answer, Answer | Rejected)
    if isinstance(answer, Answer):
        assert isinstance(answer.value, str | int | float | bool)


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_integers_round_trip_in_french_spelling(n: int) -> None:
    grouped = f"{n:,}".replace(",", "\u00a0")
    assert accepted("integer", str(n)) == n
    assert accepted("integer", grouped) == n


@given(st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False))
def test_decimals_with_a_comma(n: Any) -> None:
    assert accepted("number", str(n).replace(".", ",")) == float(n)
