"""SMS encoding and segmentation: GSM-7 or UCS-2, and how a text splits into billed parts.

Rules from reference/sms.md §2:

- a text is GSM-7 when every character is in the GSM 03.38 basic table (1 septet each) or its
  extension table (an escape plus the character: 2 septets each); any other character switches
  the whole message to UCS-2, where the unit is the UTF-16 code unit (a character outside the
  BMP, such as most emoji, counts 2);
- a text within the single-message limit (160 septets / 70 units) is one part; a longer one is
  concatenated, each part carrying at most 153 septets / 67 units (the rest is the UDH);
- gateways never split an escape sequence or a surrogate pair across parts, so a part may carry
  152 septets / 66 units.

The tables are written here by hand: the PyPI packages that know GSM 03.38 are codecs only
(`gsm0338`, `pygsm7`), or split without types and have not been released since 2020
(`smsutil`), and counting is too small and too central to depend on one of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

# GSM 03.38 basic table in code-point order, 16 per row (3GPP TS 23.038 §6.2.1). 0x1B is the
# escape to the extension table, not a character a text can hold: it is left out below.
_ESCAPE: Final = "\x1b"
_BASIC_TABLE: Final = (
    "@£$¥èéùìòÇ\nØø\rÅå"  # 0x00 (0x09 is the capital Ç; lowercase ç is not GSM-7)
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"  # 0x10 (Greek capitals U+0394...; 0x1B is the escape)
    " !\"#¤%&'()*+,-./"  # 0x20
    "0123456789:;<=>?"  # 0x30
    "¡ABCDEFGHIJKLMNO"  # 0x40
    "PQRSTUVWXYZÄÖÑÜ§"  # 0x50
    "¿abcdefghijklmno"  # 0x60
    "pqrstuvwxyzäöñüà"  # 0x70
)

GSM7_BASIC: Final = frozenset(_BASIC_TABLE) - {_ESCAPE}
"""Characters that take one septet."""

GSM7_EXTENSION: Final = frozenset("\f^{}\\[~]|€")
"""Characters that take two septets: the escape, then their code in the extension table."""

GSM7_CHARACTERS: Final = GSM7_BASIC | GSM7_EXTENSION

GSM7_SINGLE_MAX: Final = 160
GSM7_PART_MAX: Final = 153
UCS2_SINGLE_MAX: Final = 70
UCS2_PART_MAX: Final = 67


class Encoding(StrEnum):
    """How a text travels: the GSM 7-bit alphabet, or UCS-2 (UTF-16 on the wire)."""

    GSM7 = "GSM7"
    UCS2 = "UCS2"

    @property
    def smsmode(self) -> str:
        """The word smsmode uses in `body.encoding`: `GSM7` or `UNICODE` (sms.md §1.3)."""
        return _SMSMODE_WORDS[self]

    @classmethod
    def from_smsmode(cls, word: str) -> Encoding:
        """The encoding smsmode names `word` (`GSM7` or `UNICODE`); ValueError otherwise."""
        for encoding, smsmode_word in _SMSMODE_WORDS.items():
            if smsmode_word == word:
                return encoding
        raise ValueError(f"{word!r} is not an smsmode encoding (GSM7 or UNICODE)")

    @property
    def single_max(self) -> int:
        """Units a text may have and still go as one SMS: 160 septets or 70 UTF-16 units."""
        return GSM7_SINGLE_MAX if self is Encoding.GSM7 else UCS2_SINGLE_MAX

    @property
    def part_max(self) -> int:
        """Units one part of a concatenated SMS carries: 153 septets or 67 UTF-16 units."""
        return GSM7_PART_MAX if self is Encoding.GSM7 else UCS2_PART_MAX


_SMSMODE_WORDS: Final = {Encoding.GSM7: "GSM7", Encoding.UCS2: "UNICODE"}


@dataclass(frozen=True, slots=True)
class SmsSegments:
    """A text cut into the parts a gateway sends and an operator bills."""

    encoding: Encoding
    units: int
    """Septets (GSM-7) or UTF-16 code units (UCS-2) of the whole text."""
    parts: tuple[str, ...]
    """The text of each part, in order; joined they give back the text. An empty text is one
    empty part."""

    @property
    def count(self) -> int:
        """The number of parts, each billed as one SMS."""
        return len(self.parts)


def encoding_of(text: str) -> Encoding:
    """GSM-7 when every character of `text` is in the basic or extension table, else UCS-2."""
    return Encoding.GSM7 if GSM7_CHARACTERS.issuperset(text) else Encoding.UCS2


def non_gsm7_characters(text: str) -> tuple[str, ...]:
    """The characters of `text` that force UCS-2, each once, in order of first appearance.

    Useful to tell an author why a message costs more: `’` or `…` instead of `'` or `...`.
    """
    return tuple(dict.fromkeys(c for c in text if c not in GSM7_CHARACTERS))


def split(text: str) -> SmsSegments:
    """The encoding, size and parts of `text`, as a gateway cuts it (sms.md §2)."""
    encoding, units, has_wide = _measure(text)
    if units <= encoding.single_max:
        return SmsSegments(encoding, units, (text,))
    if not has_wide:
        size = encoding.part_max
        parts = tuple(text[start : start + size] for start in range(0, len(text), size))
        return SmsSegments(encoding, units, parts)
    starts = _part_starts(text, encoding)
    ends = [*starts[1:], len(text)]
    return SmsSegments(encoding, units, tuple(text[a:b] for a, b in zip(starts, ends, strict=True)))


def count_segments(text: str) -> int:
    """The number of parts `text` is sent in; the same as `split(text).count`, but cheaper.

    Called on every outgoing message: it is plain arithmetic unless the text is concatenated
    and holds a 2-unit character (an extension character in GSM-7, a character outside the BMP
    in UCS-2), the only case where a boundary can move; even then only those characters are
    visited.
    """
    encoding, units, has_wide = _measure(text)
    if units <= encoding.single_max:
        return 1
    if not has_wide:
        return -(-units // encoding.part_max)
    return len(_part_starts(text, encoding))


def _measure(text: str) -> tuple[Encoding, int, bool]:
    """The encoding, the total units, and whether any character takes 2 units."""
    characters = set(text)
    if characters <= GSM7_BASIC:
        return Encoding.GSM7, len(text), False
    if characters <= GSM7_CHARACTERS:
        escapes = sum(text.count(c) for c in characters & GSM7_EXTENSION)
        return Encoding.GSM7, len(text) + escapes, True
    # "surrogatepass" so that a lone surrogate (invalid, but a str can hold one) counts 1 unit.
    units = len(text.encode("utf-16-le", "surrogatepass")) // 2
    return Encoding.UCS2, units, units > len(text)


def _part_starts(text: str, encoding: Encoding) -> list[int]:
    """Where each part of a concatenated `text` starts, filling parts greedily.

    A 2-unit character that does not fit in the room left goes whole to the next part. Greedy
    filling is what gateways do, and it also gives the fewest parts. Only the 2-unit characters
    are visited (found by a regular expression, in C); the runs of 1-unit characters between
    them are placed by arithmetic, which keeps `count_segments` cheap on long texts.
    """
    size = encoding.part_max
    wide = _WIDE_GSM7 if encoding is Encoding.GSM7 else _WIDE_UCS2
    starts = [0]
    position, filled = 0, 0  # first character not yet placed; units in the current part
    for match in wide.finditer(text):
        position, filled = _place_narrow(starts, position, filled, match.start(), size)
        if filled + 2 > size:
            starts.append(position)
            filled = 0
        position, filled = position + 1, filled + 2
    _place_narrow(starts, position, filled, len(text), size)
    return starts


def _place_narrow(
    starts: list[int], position: int, filled: int, end: int, size: int
) -> tuple[int, int]:
    """Place the 1-unit characters `text[position:end]`, recording the parts they open.

    Returns the new position (`end`) and the units then in the current part.
    """
    while filled + (end - position) > size:
        position += size - filled
        starts.append(position)
        filled = 0
    return end, filled + (end - position)


_WIDE_GSM7: Final = re.compile("[" + re.escape("".join(sorted(GSM7_EXTENSION))) + "]")
_WIDE_UCS2: Final = re.compile("[\U00010000-\U0010ffff]")
"""Characters outside the BMP: a surrogate pair in UTF-16. A lone surrogate is 1 unit."""
