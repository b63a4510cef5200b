"""What the cost estimate makes up to drive a flow offline: the person's replies, the backend's
answers, the contact and the environment (`bots.cost_paths` explores a flow with them).

Nothing here leaves the process: a flow's `call` is answered by `Backend`, never sent.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from flows.compiler import CompiledAsk, CompiledFlow, CompiledTransition
from flows.conversation import HttpRequest, HttpResponse, Snapshot
from flows.schema import AskType
from messaging.channel import Channel
from messaging.choices import ChoiceMap
from messaging.inbound import Inbound, InboundFile, InboundLocation, InboundPostback, InboundText

RECIPIENT: Final = "+33612345678"
"""A French mobile: Time2Chat reaches it (R10) and the `FR` price line applies."""
CONTACT: Final = {"first_name": "Camille", "last_name": "Martin", "phone": RECIPIENT}
NONSENSE: Final = "zzz"
"""A reply no transition expects: it reaches `otherwise`, or an `ask`'s retry and `on_fail`."""

SAMPLE_ANSWERS: Final = {
    AskType.TEXT: ("C'était très bien, merci.",),
    AskType.DATE: ("15/12",),
    AskType.TIME: ("14h30",),
    AskType.EMAIL: ("camille.martin@example.org",),
    AskType.PHONE: ("06 12 34 56 78",),
}
SAMPLE_LABEL: Final = "mardi 15/12 à 10h00"
"""What a made-up backend answer holds in a field the flow shows (a slot's label...)."""

ANSWERED, ANSWERED_NO, FAILED = "answered", "answered, flags false", "failed"
BACKEND_MODES: Final = (ANSWERED, ANSWERED_NO, FAILED)
"""How the estimate lets a turn's calls go: each mode is tried when the turn made a call."""

_FLAG = re.compile(
    r"^(is_|has_|can_)|available|accepted|ok$|success|valid|confirmed|found|exists|free"
)
_START = re.compile(r"start|begin|from$|debut")
_END = re.compile(r"end|until|^to$|fin$")
_DAY = re.compile(r"date|day|jour")
_ID = re.compile(r"(^|_)(id|ref|reference|code|number)$")
_COUNT = re.compile(r"count|price|amount|total|quantity")


@dataclass(frozen=True, slots=True)
class Move:
    """What happens next in a conversation: the person sends `message`, or (None) time passes
    until the next timer of the state is due."""

    label: str
    message: Inbound | None = None


def moves(flow: CompiledFlow, snapshot: Snapshot, channel: Channel, timers: bool) -> list[Move]:
    """The moves worth trying in the state `snapshot` waits in, in the order a person would
    most likely make them: what the state's `on` expects, the `ask`'s answers, the global
    transitions that go somewhere, a reply nobody expects, then waiting for a timer."""
    state = flow.states[snapshot.state]
    found: list[Move] = []
    for transition in state.on_input:
        found.extend(_meeting(transition, snapshot.choices, channel))
    if state.ask is not None:
        found.extend(_answers(state.ask, snapshot.choices, channel))
    for transition in flow.global_on:
        if transition.goto is not None:
            found.extend(_meeting(transition, snapshot.choices, channel))
    free_text = state.ask is not None and state.ask.spec.type is AskType.TEXT
    if (state.ask is not None and not free_text) or state.otherwise is not None:
        found.append(Move(f'type "{NONSENSE}"', InboundText(text=NONSENSE)))
    if timers:
        found.append(Move("wait for the timer"))
    unique: dict[str, Move] = {}
    for move in found:
        unique.setdefault(move.label, move)
    return list(unique.values())


def _meeting(transition: CompiledTransition, choices: ChoiceMap, channel: Channel) -> list[Move]:
    """Inputs that meet a transition's conditions (its `if` is left to the engine)."""
    spec = transition.spec
    if spec.location:
        return [Move("share a location", InboundLocation(latitude=43.2965, longitude=5.3698))]
    if spec.file:
        photo = InboundFile(url="https://example.org/photo.jpg", content_type="image/jpeg")
        return [Move("send a photo", photo)]
    if transition.data is not None:
        picked = [_pick(data, choices, channel) for data in sorted(transition.data)]
        found = [move for move in picked if move is not None]
        if found or channel.is_sms:
            return found[:1]
        data = min(transition.data)  # RCS: a chip of an earlier message may still be tapped
        return [Move(f'tap "{data}"', InboundPostback(data=data, text=data))]
    if transition.text is not None:
        texts = regex_samples(transition.text)
        if spec.keywords:
            texts = [f"{text} {spec.keywords[0]}" for text in texts]
    elif spec.keywords:
        texts = [spec.keywords[0]]
    else:
        texts = ["ok"]
    return [Move(f'type "{text}"', InboundText(text=text)) for text in texts[:1]]


def _pick(data: str, choices: ChoiceMap, channel: Channel) -> Move | None:
    """Choosing the choice with `data`: a tap on RCS, its number (or label) typed on SMS."""
    choice = next((c for c in choices.choices if c.data == data), None)
    if choice is None:
        return None
    if not channel.is_sms:
        return Move(f'tap "{choice.label}"', InboundPostback(data=data, text=choice.label))
    typed = str(choice.number) if choices.numbered else choice.label
    return Move(f'reply "{typed}" ({choice.label})', InboundText(text=typed))


def _answers(ask: CompiledAsk, choices: ChoiceMap, channel: Channel) -> list[Move]:
    spec = ask.spec
    if spec.type in (AskType.CHOICE, AskType.YES_NO):
        found: list[Move] = []
        for reply in ask.choices:
            move = _pick(reply.postback, choices, channel)
            found.append(move or Move(f'type "{reply.text}"', InboundText(text=reply.text)))
        return found
    if spec.type in (AskType.NUMBER, AskType.INTEGER):
        texts = _numbers(spec.min, spec.max)
    elif spec.type is AskType.REGEX:
        texts = regex_samples(ask.pattern) if ask.pattern is not None else []
    else:
        texts = list(SAMPLE_ANSWERS[spec.type])
    return [Move(f'type "{text}"', InboundText(text=text)) for text in texts]


def _numbers(low: float | None, high: float | None) -> list[str]:
    """Every integer of a small range (the flow may branch on any), else a few in bounds."""
    if low is not None and high is not None and high - low <= 10:
        values: list[float] = list(range(math.ceil(low), math.floor(high) + 1))
    else:
        middle = [(low + high) / 2] if low is not None and high is not None else []
        candidates = [low, high, *middle, 1, 10, 30, 100]
        values = [
            v
            for v in candidates
            if v is not None and (low is None or v >= low) and (high is None or v <= high)
        ]
    texts = [str(int(v)) if float(v).is_integer() else str(v) for v in values]
    return list(dict.fromkeys(texts))


# --- regular expressions -------------------------------------------------------------------

try:  # the parser `re` itself uses; private, so the estimate does without it if it moves
    _PARSER: Any = importlib.import_module("re._parser")
except ImportError:  # pragma: no cover
    _PARSER = None

_FILLERS: Final = (("1", "a"), ("3", "e"), ("0", "o"), ("9", "z"))
"""Digits and letters a sample uses where the pattern allows any: several samples, so that a
flow branching on what was typed (`vars.postcode[:2] in [...]`) gets a chance to branch."""


def regex_samples(pattern: re.Pattern[str]) -> list[str]:
    """Short texts `pattern` finds a match in; empty when it is beyond this little generator."""
    if _PARSER is None:
        return []
    samples: list[str] = []
    for digit, letter in _FILLERS:
        try:
            text = _emit(_PARSER.parse(pattern.pattern), digit, letter)
        except (ValueError, TypeError, IndexError, AttributeError, re.error):
            continue
        if pattern.search(text) and text not in samples:
            samples.append(text)
    return samples


def _emit(items: Iterable[tuple[Any, Any]], digit: str, letter: str) -> str:
    out: list[str] = []
    for op, value in items:
        name = op.name
        if name == "LITERAL":
            out.append(chr(value))
        elif name == "NOT_LITERAL":
            out.append(letter if chr(value) != letter else "b")
        elif name == "ANY":
            out.append(letter)
        elif name == "IN":
            out.append(_one_of(value, digit, letter))
        elif name == "BRANCH":
            out.append(_emit(value[1][0], digit, letter))
        elif name == "SUBPATTERN":
            out.append(_emit(value[3], digit, letter))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = value
            out.append(_emit(sub, digit, letter) * min(max(low, 1), high))
        elif name in ("ATOMIC_GROUP",):
            out.append(_emit(value, digit, letter))
        elif name not in ("AT", "ASSERT", "ASSERT_NOT", "GROUPREF"):
            raise ValueError(f"no sample for {name}")
    return "".join(out)


_CATEGORIES: Final = {
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_SPACE": "x",
    "CATEGORY_NOT_DIGIT": "x",
    "CATEGORY_NOT_WORD": "-",
}


def _one_of(items: list[tuple[Any, Any]], digit: str, letter: str) -> str:
    if items and items[0][0].name == "NEGATE":
        taken = {chr(v) for op, v in items[1:] if op.name == "LITERAL"}
        return next(c for c in (letter, "x", "1", "-", " ") if c not in taken)
    op, value = items[0]
    if op.name == "LITERAL":
        return chr(value)
    if op.name == "RANGE":
        low, high = value
        for candidate in (digit, letter):
            if low <= ord(candidate) <= high:
                return candidate
        return chr(low)
    if op.name == "CATEGORY":
        category = value.name
        if category == "CATEGORY_DIGIT":
            return digit
        if category == "CATEGORY_WORD":
            return letter
        return _CATEGORIES.get(category, letter)
    raise ValueError(f"no sample for {op.name}")


# --- contact, environment and backend ------------------------------------------------------


def _names(source: str, prefix: str) -> list[str]:
    found = re.findall(rf"\b{prefix}\.(\w+)|\b{prefix}\[['\"](\w+)['\"]\]", source)
    return list(dict.fromkeys(a or b for a, b in found))


def flow_source(flow: CompiledFlow) -> str:
    """Every template of the flow, as one text to look names up in."""
    return flow.flow.model_dump_json(by_alias=True, warnings=False)


def sample_contact(source: str) -> dict[str, Any]:
    """The sample contact, with every other field the flow reads (`contact.loyalty_id`)."""
    contact: dict[str, Any] = dict(CONTACT)
    for name in _names(source, "contact"):
        contact.setdefault(name, "exemple")
    return contact


def sample_env(source: str) -> dict[str, str]:
    return {
        name: "https://backend.example" if name.upper().endswith("URL") else "exemple"
        for name in _names(source, "env")
    }


def sample_response(source: str, flow: CompiledFlow, *, flags: bool) -> dict[str, Any]:
    """A made-up body for every call: each field the flow reads from a `save` variable, valued
    after its name (`start` an ISO date-time, `available` a flag, `label` a short text)."""
    saved = {s.call.spec.save for s in flow.states.values() if s.call and s.call.spec.save}
    body: dict[str, Any] = {}
    for var in sorted(saved):
        for field in re.findall(rf"\bvars\.{re.escape(var)}\.(\w+)", source):
            body.setdefault(field, _sample_value(field.lower(), flags))
    return body


def _sample_value(name: str, flags: bool) -> Any:
    if _FLAG.search(name):
        return flags
    if _START.search(name):
        return "2026-12-15T10:00:00+01:00"
    if _END.search(name):
        return "2026-12-15T10:30:00+01:00"
    if _DAY.search(name):
        return "2026-12-15"
    if _ID.search(name):
        return "A1B2C3"
    if _COUNT.search(name):
        return 1
    return SAMPLE_LABEL


class Backend:
    """Answers a flow's calls without sending them: with `body`, or failing (`body` None)."""

    def __init__(self, body: dict[str, Any] | None) -> None:
        self.body = body
        self.calls = 0

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        self.calls += 1
        if self.body is None:
            raise ConnectionError("the estimate lets this call fail")
        return HttpResponse(200, self.body)
