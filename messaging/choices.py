"""The numbered choices of the last message, and how a typed reply is read back against them.

On SMS a message's reply chips become `1 Je confirme`, `2 Annuler`... The conversation keeps
this map until it sends another message (a message without choices clears it), so the reply
`2`, `annuler`, `Annuler` or `ANNULER` gives `data: cancel`, while after a plain question `2`
is just the text `2`.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr

from messaging.content import Content, RichCarousel
from messaging.suggestions import Reply
from messaging.text import fold


class Choice(BaseModel):
    model_config = ConfigDict(frozen=True)

    number: int
    label: str
    data: str
    aliases: tuple[str, ...] = ()
    """Other texts that pick this choice: a carousel card's title when the card has one reply."""


class ChoiceMap(BaseModel):
    model_config = ConfigDict(frozen=True)

    choices: tuple[Choice, ...] = ()
    _by_number: dict[str, str] = PrivateAttr(default_factory=dict)
    _by_label: dict[str, str] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        self._by_number = {str(choice.number): choice.data for choice in self.choices}
        by_label: dict[str, str] = {}
        for choice in self.choices:
            for text in (choice.label, *choice.aliases):
                by_label.setdefault(fold(text), choice.data)
        self._by_label = by_label

    @classmethod
    def of(cls, content: Content) -> ChoiceMap:
        """The choices a content offers, numbered from 1 in display order."""
        entries: list[tuple[str, str, tuple[str, ...]]] = []
        if isinstance(content, RichCarousel):
            for card in content.carousel.cards:
                replies = [s for s in card.suggestions if isinstance(s, Reply)]
                aliases = (card.title,) if card.title and len(replies) == 1 else ()
                entries.extend((reply.text, reply.postback, aliases) for reply in replies)
        else:
            entries.extend((reply.text, reply.postback, ()) for reply in content.replies)
        return _numbered(tuple(entries))

    def __bool__(self) -> bool:
        return bool(self.choices)

    @property
    def numbered(self) -> bool:
        """Whether SMS shows (and reads) positions: not when a label is itself a number.

        Chips labelled `0` to `10` would be shown `1 0`, `2 1`... and `4` would pick the fourth
        chip, labelled `3`; such choices are shown and read by their labels.
        """
        return not any(choice.label.strip().isdigit() for choice in self.choices)

    def match(self, text: str, *, numbers: bool = True) -> str | None:
        """The data of the choice `text` picks, or None.

        With `numbers=False` (RCS, where choices are chips without numbers) only labels match.
        On SMS a number is read as the position it was shown at, before any label.
        """
        key = fold(text)
        if numbers and key in self._by_number and self.numbered:
            return self._by_number[key]
        return self._by_label.get(key)


@functools.lru_cache(maxsize=4096)
def _numbered(entries: tuple[tuple[str, str, tuple[str, ...]], ...]) -> ChoiceMap:
    # Every turn that sends a message computes its choice map; a flow sends the same few chip
    # sets over and over, and a ChoiceMap is immutable, so one instance serves them all.
    choices = tuple(
        Choice(number=number, label=label, data=data, aliases=aliases)
        for number, (label, data, aliases) in enumerate(entries, 1)
    )
    return ChoiceMap(choices=choices)
