"""R25: the STOP mention that lets a recipient opt out of marketing SMS (sms.md §3.2, §2).

France writes it `STOP au 36xxx` (or `STOP 36034`): the word STOP and the 5-digit short number
the recipient texts it to, free of charge. The short number depends on the routing and may
change, so it is a parameter, filled in where the route is known.

Appending it can cost money: a 150-character GSM-7 text plus `\\nSTOP 36034` goes from one SMS
to two (smsmode's `stop=1` appends only up to 149 characters for that reason). So by default
the mention is added only when the message keeps its segment count, counted by
`messaging.encoding` (which also sees a mention that switches the text to UCS-2); `force`
adds it anyway (smsmode's `stop=2`), which is what marketing needs when the mention is the
only opt-out means.
"""

from __future__ import annotations

import re
from typing import Final

from messaging.encoding import count_segments
from messaging.text import fold

DEFAULT_MENTION_TEMPLATE: Final = "STOP au {short_number}"

_SHORT_NUMBER: Final = re.compile(r"[3-8][0-9]{4}")
"""Operators' STOP SMS works on 5-digit short numbers starting 3 to 8 (sms.md §3.2)."""


def stop_mention(short_number: str, template: str = DEFAULT_MENTION_TEMPLATE) -> str:
    """The mention for `short_number`: `STOP au 36034`. ValueError when the number is not a
    French SMS short number (5 digits, first 3 to 8)."""
    if not _SHORT_NUMBER.fullmatch(short_number):
        raise ValueError(
            f"{short_number!r} is not a French SMS short number (5 digits starting 3 to 8)"
        )
    return template.format(short_number=short_number)


def has_stop_mention(text: str, mention: str) -> bool:
    """Whether `text` already carries `mention`, ignoring case, accents and spacing."""
    folded = fold(mention)
    return bool(folded) and folded in fold(text)


def with_stop_mention(text: str, mention: str, *, force: bool = False) -> tuple[str, bool]:
    """`text` with `mention` on its own last line, and whether it was added (R25).

    Added when the result takes no more SMS parts than `text` alone, or always with `force`.
    Not added twice: a text that already carries the mention comes back unchanged, with
    False (`has_stop_mention` tells the caller it is there).
    """
    if not mention.strip() or has_stop_mention(text, mention):
        return text, False
    if not text:
        candidate = mention
    elif text.endswith("\n"):
        candidate = text + mention
    else:
        candidate = f"{text}\n{mention}"
    if force or count_segments(candidate) <= count_segments(text):
        return candidate, True
    return text, False
