"""How an inbound message meets a transition's input conditions (FLOWS.md "Transitions")."""

from __future__ import annotations

from typing import Any

from flows.compiler import CompiledTransition
from flows.templates import Scope
from messaging.choices import ChoiceMap
from messaging.inbound import Inbound, InboundFile, InboundLocation, InboundPostback, InboundText
from messaging.text import words


class TurnInput:
    """An inbound message as transitions and templates (`input.*`) see it.

    A typed text gets the `data` of the choice it names: by its number on SMS (`numbered`),
    by its label on any channel.
    """

    __slots__ = ("data", "file", "location", "text", "words")

    def __init__(self, message: Inbound | None, choices: ChoiceMap, numbered: bool) -> None:
        self.text = ""
        self.data: str | None = None
        self.location: dict[str, float] | None = None
        self.file: dict[str, Any] | None = None
        if isinstance(message, InboundText):
            self.text = message.text
            self.data = choices.match(message.text, numbers=numbered)
        elif isinstance(message, InboundPostback):
            self.text, self.data = message.text, message.data
        elif isinstance(message, InboundLocation):
            self.location = {"latitude": message.latitude, "longitude": message.longitude}
        elif isinstance(message, InboundFile):
            self.file = message.model_dump(exclude={"kind"})
        self.words: tuple[str, ...] = words(self.text) if self.text else ()

    def as_context(self) -> Scope:
        values = {
            "text": self.text,
            "data": self.data,
            "location": self.location,
            "file": self.file,
        }
        return Scope("input", values)


def meets_input_conditions(transition: CompiledTransition, given: TurnInput) -> bool:
    """All of `data`, `text`, `keywords`, `location`, `file` that the transition gives hold.

    Its `if` is the engine's to evaluate: it needs the turn's template context.
    """
    if transition.data is not None and given.data not in transition.data:
        return False
    if transition.text is not None and not transition.text.search(given.text):
        return False
    if transition.keywords is not None and not _has_keyword(given, transition.keywords):
        return False
    spec = transition.spec
    if spec.location is not None and spec.location != (given.location is not None):
        return False
    return spec.file is None or spec.file == (given.file is not None)


def _has_keyword(given: TurnInput, keywords: frozenset[tuple[str, ...]]) -> bool:
    """True when the words of one keyword appear together, in order, among the input's words."""
    said = given.words
    for keyword in keywords:
        size = len(keyword)
        if any(said[i : i + size] == keyword for i in range(len(said) - size + 1)):
            return True
    return False
