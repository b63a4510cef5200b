"""R25: the STOP mention (compliance/stop_mention.py, sms.md §3.2, §2)."""

from __future__ import annotations

import pytest

from compliance.stop_mention import (
    DEFAULT_MENTION_TEMPLATE,
    has_stop_mention,
    stop_mention,
    with_stop_mention,
)
from messaging.encoding import count_segments

MENTION = stop_mention("36034")  # "STOP au 36034": 13 characters, 14 with its line break


def test_stop_mention() -> None:
    assert DEFAULT_MENTION_TEMPLATE == "STOP au {short_number}"
    assert MENTION == "STOP au 36034"
    assert stop_mention("38123", "STOP {short_number}") == "STOP 38123"


@pytest.mark.parametrize("number", ["3603", "360345", "26034", "9xxxx", "+33612345678", ""])
def test_only_french_short_numbers(number: str) -> None:
    with pytest.raises(ValueError, match="short number"):
        stop_mention(number)


class TestGsm7:
    def test_fits_in_one_sms_r25(self) -> None:
        text = "a" * 146  # 146 + 14 = 160
        result, added = with_stop_mention(text, MENTION)
        assert added
        assert result == text + "\nSTOP au 36034"
        assert count_segments(result) == 1

    def test_does_not_fit_in_one_sms(self) -> None:
        text = "a" * 147  # 161 with the mention: two SMS
        assert with_stop_mention(text, MENTION) == (text, False)

    def test_smsmode_threshold_149_with_stop_36034(self) -> None:
        short = "STOP 36034"  # sms.md §2: 11 with the newline, hence smsmode's 149
        assert with_stop_mention("a" * 149, short)[1]
        assert not with_stop_mention("a" * 150, short)[1]

    def test_concatenated_boundary_153_per_part(self) -> None:
        assert with_stop_mention("a" * 292, MENTION)[1]  # 306 = 2 x 153
        assert not with_stop_mention("a" * 293, MENTION)[1]

    def test_extension_characters_count_two(self) -> None:
        assert with_stop_mention("€" * 73, MENTION)[1]  # 146 septets + 14
        assert not with_stop_mention("€" * 73 + "a", MENTION)[1]


class TestUcs2:
    def test_fits_in_one_sms(self) -> None:
        assert with_stop_mention("ç" * 56, MENTION)[1]  # 56 + 14 = 70
        assert not with_stop_mention("ç" * 57, MENTION)[1]

    def test_concatenated_boundary_67_per_part(self) -> None:
        assert with_stop_mention("ç" * 120, MENTION)[1]  # 134 = 2 x 67
        assert not with_stop_mention("ç" * 121, MENTION)[1]

    def test_a_mention_that_switches_encoding(self) -> None:
        text = "a" * 60  # GSM-7, one SMS
        accented = "Répondez STOP au 36034, c'est gratuit et ça s'arrête"  # ç, ê: UCS-2
        plain = "Repondez STOP au 36034, c'est gratuit et ca s'arrete"
        assert with_stop_mention(text, plain)[1]  # 113 septets: still one SMS
        assert with_stop_mention(text, accented) == (text, False)  # 113 UCS-2 units: two


class TestForceAndEdges:
    def test_forced_even_when_it_costs_a_part_r25(self) -> None:
        text = "a" * 150
        result, added = with_stop_mention(text, MENTION, force=True)
        assert added
        assert result.endswith("\nSTOP au 36034")
        assert count_segments(result) == 2

    def test_not_added_twice(self) -> None:
        text = "Promo -20%\nstop AU 36034"
        assert has_stop_mention(text, MENTION)
        assert with_stop_mention(text, MENTION, force=True) == (text, False)

    def test_empty_text_gets_the_mention_alone(self) -> None:
        assert with_stop_mention("", MENTION) == (MENTION, True)

    def test_text_ending_with_a_newline(self) -> None:
        assert with_stop_mention("Promo\n", MENTION) == ("Promo\nSTOP au 36034", True)

    def test_empty_mention_adds_nothing(self) -> None:
        assert with_stop_mention("Promo", "  ") == ("Promo", False)
