"""R25, R26: opt-out and opt-in words (compliance/keywords.py, sms.md §3.2)."""

from __future__ import annotations

import pytest

from compliance.keywords import DEFAULT_START, DEFAULT_STOP, Keywords

KEYWORDS = Keywords()


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        "Stop",
        "  stop  ",
        "\tSTOP\n",
        "STOP.",
        "Stop !",
        "stop!!!",
        "« STOP »",
        "STOP SMS",
        "stop   sms",
        "STOPSMS",
        "S T O P",
        "ARRET",
        "Arrêt",
        "ARRÊT",
        "arrêt.",
        "désabonner",
        "DESABONNER",
        "Unsubscribe",
    ],
)
def test_opt_out_words_r25(text: str) -> None:
    assert KEYWORDS.classify(text) == "stop"


@pytest.mark.parametrize("text", ["START", "start", " Start ! ", "S T A R T"])
def test_opt_in_words_r25(text: str) -> None:
    assert KEYWORDS.classify(text) == "start"


@pytest.mark.parametrize(
    "text",
    [
        "Stop please",
        "stop sending me the old address",
        "Stop, je voulais dire mardi",
        "STOP 36034",  # the mention copied back: a sentence, not the keyword (module docstring)
        "non merci, stop",
        "start the order",
        "stopper",
        "arrête",
        "",
        "   ",
        "!!!",
        "Bonjour",
    ],
)
def test_anything_else_is_not_a_keyword_r25(text: str) -> None:
    assert KEYWORDS.classify(text) is None


def test_defaults_are_the_documented_words() -> None:
    assert DEFAULT_STOP == ("STOP", "STOP SMS", "ARRET", "ARRÊT", "DESABONNER", "UNSUBSCRIBE")
    assert DEFAULT_START == ("START",)


def test_configurable_words_r25() -> None:
    keywords = Keywords(stop=("Désinscription", "NON"), start=("OUI", "Réabonner"))
    assert keywords.classify("desinscription") == "stop"
    assert keywords.classify("non.") == "stop"
    assert keywords.classify("STOP") is None
    assert keywords.classify("réabonner") == "start"


def test_a_word_cannot_both_opt_out_and_in() -> None:
    with pytest.raises(ValueError, match="both opt out and opt in"):
        Keywords(stop=("STOP",), start=("stop!",))


def test_an_empty_keyword_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        Keywords(stop=("STOP", " ! "))


def test_lone_surrogates_and_control_characters_do_not_raise() -> None:
    assert KEYWORDS.classify("\ud800stop") is None
    assert KEYWORDS.classify("\x00\x1b\u200b") is None
    assert KEYWORDS.classify("stop\u0301") == "stop"  # a combining accent is ignored
