"""R25, R26: the words a recipient sends to opt out (STOP) or back in (START) (sms.md §3.2).

The whole message must be the keyword. "Stop" alone opts out; "Stop please", "STOP 36034" or
"stop sending me the old address" do not. Why the whole message and not the first word:

- Time2Chat and RCS are *conversations* (sms.md §1.7): people write sentences to the bot, and
  "Stop, je voulais dire mardi" is a correction, not an opposition. Opting a customer out of
  every marketing message because a reply starts with "stop" is a lasting, silent loss.
- The opposite mistake is covered elsewhere: the operators' own "STOP SMS" on the 36xxx
  shortcodes reaches smsmode, which flags the MO with `body.stop: true` (sms.md §1.4); callers
  must honour that flag whatever this classifier says.

What is ignored, so that what a person actually types still matches: case, accents (`ARRÊT` =
`arret`), surrounding spaces and the spaces inside (`STOP SMS` = `stopsms` = `S T O P`), and
punctuation at either end (`Stop.`, `STOP !`, `« stop »`), all through `messaging.text.fold`,
the one folding every place that compares typed text uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, Literal

from messaging.text import fold

DEFAULT_STOP: Final = ("STOP", "STOP SMS", "ARRET", "ARRÊT", "DESABONNER", "UNSUBSCRIBE")
"""Opt-out words (R25). `STOP SMS` is the operators' name for the mechanism (sms.md §3.2)."""

DEFAULT_START: Final = ("START",)
"""Opt-in words: the person takes back an opposition (R25)."""

_SPACES: Final = re.compile(r"\s+")

Kind = Literal["stop", "start"]


def _key(text: str) -> str:
    """The form compared: folded (case, accents, edge punctuation), then without any space."""
    return _SPACES.sub("", fold(text))


@dataclass(frozen=True)
class Keywords:
    """The opt-out and opt-in words of one business (configurable; defaults above)."""

    stop: tuple[str, ...] = DEFAULT_STOP
    start: tuple[str, ...] = DEFAULT_START
    # The folded forms, computed once: `classify` runs on every inbound message.
    _stop_keys: frozenset[str] = field(init=False, repr=False, compare=False)
    _start_keys: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Refuse at configuration time what would make `classify` ambiguous or match everything.
        for word in (*self.stop, *self.start):
            if not _key(word):
                raise ValueError(f"keyword {word!r} is empty once case and spaces are ignored")
        stop_keys = {_key(word): word for word in self.stop}
        start_keys = {_key(word): word for word in self.start}
        both = stop_keys.keys() & start_keys.keys()
        if both:
            clash = ", ".join(sorted(repr(stop_keys[key]) for key in both))
            raise ValueError(f"{clash} would both opt out and opt in (R25)")
        object.__setattr__(self, "_stop_keys", frozenset(stop_keys))
        object.__setattr__(self, "_start_keys", frozenset(start_keys))

    def classify(self, text: str) -> Kind | None:
        """`"stop"` when the whole message is an opt-out word, `"start"` for an opt-in word,
        None for anything else (R25). Never raises on a `str`."""
        key = _key(text)
        if key in self._stop_keys:
            return "stop"
        if key in self._start_keys:
            return "start"
        return None
