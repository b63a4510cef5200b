"""SMS encoding and segmentation (reference/sms.md §2)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messaging.encoding import (
    GSM7_BASIC,
    GSM7_CHARACTERS,
    GSM7_EXTENSION,
    Encoding,
    count_segments,
    encoding_of,
    non_gsm7_characters,
    split,
)

GSM_FRENCH = "éèàùÉÇ"
NOT_GSM_FRENCH = ["ç", "ê", "â", "î", "ô", "û", "ë", "ï", "œ", "È", "’", "«", "»", "…", "–"]
EMOJI = "😀"  # U+1F600, outside the BMP: a surrogate pair, 2 UTF-16 units


def units_of(part: str, encoding: Encoding) -> int:
    """Units of one part, counted independently of the module under test."""
    if encoding is Encoding.GSM7:
        return sum(2 if c in "\f^{}\\[~]|€" else 1 for c in part)
    return len(part.encode("utf-16-le", "surrogatepass")) // 2


class TestTables:
    def test_basic_table_has_127_characters_besides_the_escape(self) -> None:
        assert len(GSM7_BASIC) == 127
        assert "\x1b" not in GSM7_BASIC

    def test_extension_table(self) -> None:
        assert set("^{}\\[~]|€\f") == GSM7_EXTENSION
        assert not GSM7_BASIC & GSM7_EXTENSION

    @pytest.mark.parametrize(
        "character", ["@", "£", "$", "¥", "\n", "\r", "Δ", "Ω", "Σ", "ß", "¤", "¡", "§", "¿", "ñ"]
    )
    def test_basic_characters(self, character: str) -> None:
        assert character in GSM7_BASIC

    @pytest.mark.parametrize("character", ["`", "\t", "\u00a0", "\u00b5", "\u2126", "ç", "\x1b"])
    def test_look_alikes_and_controls_are_not_gsm7(self, character: str) -> None:
        # The micro sign looks like a Greek mu (not in the table) and the ohm sign like the
        # table's capital omega (U+03A9): neither is GSM-7.
        assert character not in GSM7_CHARACTERS


class TestEncodingOf:
    def test_plain_french_is_gsm7(self) -> None:
        assert encoding_of(f"Votre rendez-vous est confirmé : {GSM_FRENCH} 12€ [ok]") is (
            Encoding.GSM7
        )

    def test_empty_text_is_gsm7(self) -> None:
        assert encoding_of("") is Encoding.GSM7

    @pytest.mark.parametrize("character", NOT_GSM_FRENCH)
    def test_one_french_trap_switches_the_whole_message_to_ucs2(self, character: str) -> None:
        assert encoding_of(f"Bonjour, c'est noté {character} merci") is Encoding.UCS2

    def test_capital_c_cedilla_is_gsm7_but_lowercase_is_not(self) -> None:
        assert encoding_of("Ç") is Encoding.GSM7
        assert encoding_of("ç") is Encoding.UCS2

    def test_emoji_is_ucs2(self) -> None:
        assert encoding_of(f"Merci {EMOJI}") is Encoding.UCS2

    def test_non_gsm7_characters_names_each_culprit_once_in_order(self) -> None:
        assert non_gsm7_characters("L’été… c’est « ça »") == ("’", "…", "«", "ç", "»")
        assert non_gsm7_characters("Été à Noël") == ("ë",)
        assert non_gsm7_characters("tout va bien") == ()


class TestSmsmodeVocabulary:
    def test_words(self) -> None:
        assert Encoding.GSM7.smsmode == "GSM7"
        assert Encoding.UCS2.smsmode == "UNICODE"

    def test_from_smsmode(self) -> None:
        assert Encoding.from_smsmode("GSM7") is Encoding.GSM7
        assert Encoding.from_smsmode("UNICODE") is Encoding.UCS2

    def test_unknown_word(self) -> None:
        with pytest.raises(ValueError, match="'UCS2' is not an smsmode encoding"):
            Encoding.from_smsmode("UCS2")

    def test_limits(self) -> None:
        assert (Encoding.GSM7.single_max, Encoding.GSM7.part_max) == (160, 153)
        assert (Encoding.UCS2.single_max, Encoding.UCS2.part_max) == (70, 67)


class TestGsm7Boundaries:
    def test_160_is_one_part(self) -> None:
        segments = split("a" * 160)
        assert (segments.encoding, segments.units, segments.count) == (Encoding.GSM7, 160, 1)
        assert segments.parts == ("a" * 160,)

    def test_161_is_two_parts_of_153_and_8(self) -> None:
        segments = split("a" * 161)
        assert segments.units == 161
        assert [len(p) for p in segments.parts] == [153, 8]

    def test_306_is_two_full_parts(self) -> None:
        assert [len(p) for p in split("a" * 306).parts] == [153, 153]

    def test_307_is_three_parts(self) -> None:
        assert [len(p) for p in split("a" * 307).parts] == [153, 153, 1]

    def test_empty_text_is_one_empty_part(self) -> None:
        segments = split("")
        assert (segments.encoding, segments.units, segments.parts, segments.count) == (
            Encoding.GSM7,
            0,
            ("",),
            1,
        )
        assert count_segments("") == 1


class TestExtensionCharacters:
    @pytest.mark.parametrize("character", sorted(GSM7_EXTENSION))
    def test_each_counts_two_septets(self, character: str) -> None:
        assert split(f"a{character}b").units == 4

    def test_80_euros_fill_one_sms(self) -> None:
        assert split("€" * 80).count == 1
        assert split("€" * 80 + "a").count == 2

    def test_an_escape_that_would_straddle_a_boundary_moves_to_the_next_part(self) -> None:
        text = "a" * 152 + "€" + "b" * 10
        segments = split(text)
        assert segments.units == 164
        assert segments.parts == ("a" * 152, "€" + "b" * 10)
        assert count_segments(text) == 2

    def test_a_moved_escape_can_cost_a_part_more_than_the_plain_division(self) -> None:
        # 306 septets would be 2 parts of 153, but the € cannot be cut: 152 + 153 + 1.
        text = "a" * 152 + "€" + "a" * 152
        segments = split(text)
        assert segments.units == 306
        assert [units_of(p, Encoding.GSM7) for p in segments.parts] == [152, 153, 1]
        assert count_segments(text) == 3

    def test_an_escape_that_fits_exactly_stays(self) -> None:
        text = "a" * 151 + "€" + "b" * 10
        assert split(text).parts == ("a" * 151 + "€", "b" * 10)


class TestUcs2Boundaries:
    def test_70_is_one_part(self) -> None:
        segments = split("ê" * 70)
        assert (segments.encoding, segments.units, segments.count) == (Encoding.UCS2, 70, 1)

    def test_71_is_two_parts(self) -> None:
        assert [len(p) for p in split("ê" * 71).parts] == [67, 4]

    def test_134_is_two_full_parts(self) -> None:
        assert [len(p) for p in split("ê" * 134).parts] == [67, 67]
        assert [len(p) for p in split("ê" * 135).parts] == [67, 67, 1]

    def test_one_non_gsm_character_makes_a_160_character_text_three_parts(self) -> None:
        text = "a" * 159 + "’"
        assert (split(text).encoding, count_segments(text)) == (Encoding.UCS2, 3)

    def test_emoji_counts_two_units(self) -> None:
        assert split(EMOJI * 35).units == 70
        assert split(EMOJI * 35).count == 1
        assert split(EMOJI * 36).count == 2

    def test_a_surrogate_pair_at_the_boundary_moves_whole_to_the_next_part(self) -> None:
        text = "ê" * 66 + EMOJI + "ê" * 10
        segments = split(text)
        assert segments.units == 78
        assert segments.parts == ("ê" * 66, EMOJI + "ê" * 10)
        assert count_segments(text) == 2

    def test_a_moved_surrogate_pair_can_cost_a_part(self) -> None:
        text = "ê" * 66 + EMOJI + "ê" * 66
        segments = split(text)
        assert segments.units == 134
        assert [units_of(p, Encoding.UCS2) for p in segments.parts] == [66, 67, 1]
        assert count_segments(text) == 3

    def test_a_lone_surrogate_counts_one_unit(self) -> None:
        assert split("\ud800").units == 1


_INTERESTING = st.sampled_from(
    ["a", "é", "Ç", " ", "\n", "€", "[", "^", "\f", "ç", "’", "…", EMOJI, "🇫", "\u00a0"]
)
_ONE_WIDE_IN_A_RUN = st.tuples(
    st.integers(0, 400), st.sampled_from(["€", "|", EMOJI]), st.integers(0, 400)
).map(lambda t: "a" * t[0] + t[1] + "a" * t[2])
_TEXTS = st.one_of(
    st.text(max_size=600),
    _ONE_WIDE_IN_A_RUN,
    st.text(_INTERESTING, max_size=600),
    st.text(st.sampled_from(["a", "é", "€", "{"]), max_size=600),
    st.text(st.sampled_from(["ê", EMOJI]), max_size=300),
)


def reference_parts(text: str) -> tuple[str, ...]:
    """Parts cut one character at a time: the obvious, slow algorithm."""
    encoding = encoding_of(text)
    if units_of(text, encoding) <= encoding.single_max:
        return (text,)
    parts: list[str] = []
    current, used = "", 0
    for character in text:
        width = units_of(character, encoding)
        if used + width > encoding.part_max:
            parts.append(current)
            current, used = "", 0
        current += character
        used += width
    parts.append(current)
    return tuple(parts)


@given(_TEXTS)
def test_parts_are_those_of_the_character_by_character_cut(text: str) -> None:
    assert split(text).parts == reference_parts(text)


@given(_TEXTS)
def test_parts_rebuild_the_text_each_within_its_limit(text: str) -> None:
    segments = split(text)
    assert "".join(segments.parts) == text
    assert segments.encoding is encoding_of(text)
    sizes = [units_of(p, segments.encoding) for p in segments.parts]
    assert sum(sizes) == segments.units
    limit = segments.encoding.single_max if len(sizes) == 1 else segments.encoding.part_max
    assert all(size <= limit for size in sizes)
    assert count_segments(text) == len(segments.parts) == segments.count


@given(_TEXTS)
def test_parts_are_filled_before_a_new_one_starts(text: str) -> None:
    segments = split(text)
    if segments.count == 1:
        assert segments.units <= segments.encoding.single_max
        return
    part_max = segments.encoding.part_max
    assert all(segments.parts), "a concatenated message has no empty part"
    for part, following in zip(segments.parts, segments.parts[1:], strict=False):
        overflow = part + following[0]
        assert units_of(overflow, segments.encoding) > part_max
