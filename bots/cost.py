"""`causette validate --cost`: what a flow's typical paths cost on RCS and on SMS (Time2Chat).

For each ending of the flow (an `end: true` state, a handoff, a state with no way out) the
shortest conversation reaching it is played by the flow simulator, once on RCS and once on
Time2Chat (`bots.cost_paths`), from Tuesday 1 December 2026 at 10:00, Paris time. Its messages,
rendered with the flow's templates, go through the real billing trackers (`sessions.rcs`,
`sessions.t2c`) with the deployment's prices, or the list prices of `sessions.policy`:

- RCS, non-conversational agent: each bot message is `rcs_basic` or `rcs_single` (R21);
- RCS, conversational agent: the person's reply opens a 24 h session (R22), what nobody
  answered is billed per message once its 24 h pass;
- Time2Chat: the bot writes first (`t2c_mt`, R12), the person's first reply opens a session
  (`t2c_session`, R14) that covers later messages until midnight (R15, R16), except long
  ones, billed `sms_mt` per segment (R13).

Not counted: the RCS agent's monthly fee (R24, whatever the traffic), and what is said after a
handoff (a person writes then).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path as FilePath
from typing import Any, Final

from pydantic import ValidationError

from bots.billing_settings import BillingSettings
from bots.cost_inputs import RECIPIENT
from bots.cost_paths import MAX_TURNS, TURN_BUDGET, Exploration, Path, Said, endings, explore
from fallback.billed import rcs_mt
from flows.compiler import CompiledFlow
from flows.loader import load_yaml
from flows.problems import FlowError
from flows.testing import DEFAULT_NOW
from flows.validation import load_flow
from messaging.channel import Channel
from messaging.renderers.rbm import render_rbm_messages
from sessions.entries import DAY
from sessions.events import Mo, Mt
from sessions.policy import BillingPolicy
from sessions.rcs import rcs_settle, rcs_step
from sessions.t2c import t2c_step
from store.billing_records import LedgerEntry, LedgerKind

ESTIMATE_AT: Final = DEFAULT_NOW
"""When every estimated conversation starts: a weekday, 10:00 in Paris (as conversation tests)."""
MAX_PATHS: Final = 10
AGENT: Final = "estimate-agent"
T2C_NUMBER: Final = "+33939000000"

Tracker = Callable[[dict[str, Any] | None, Mt | Mo], tuple[dict[str, Any], list[LedgerEntry]]]


@dataclass(frozen=True, slots=True)
class Sent:
    """One bot message as billed: the state that sent it, its class, its SMS segments."""

    state: str
    billing_class: str
    segments: int | None
    """SMS segments; None on RCS."""
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Bill:
    """What one path costs on one channel."""

    channel: str
    """`rcs` or `t2c`."""
    states: tuple[str, ...]
    moves: tuple[str, ...]
    messages: tuple[Sent, ...]
    total: Decimal
    classes: dict[str, int]
    """Quantity per billing class: messages, segments (`sms_mt`) and sessions."""
    backend: tuple[str, ...] = ()

    @property
    def segments(self) -> int | None:
        """The SMS segments of all its messages; None on RCS."""
        counts = [m.segments for m in self.messages if m.segments is not None]
        return sum(counts) if self.channel != "rcs" else None

    @property
    def long(self) -> tuple[Sent, ...]:
        """The messages that take more than one SMS."""
        return tuple(m for m in self.messages if m.segments is not None and m.segments > 1)

    def json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "states": list(self.states),
            "moves": list(self.moves),
            "turns": len(self.moves),
            "messages": [
                {
                    "state": m.state,
                    "class": m.billing_class,
                    "segments": m.segments,
                    "amount": str(m.amount),
                }
                for m in self.messages
            ],
            "cost": str(self.total),
            "segments": self.segments,
            "long_messages": [{"state": m.state, "segments": m.segments} for m in self.long],
            "classes": dict(self.classes),
            "backend": list(self.backend),
        }


@dataclass(frozen=True, slots=True)
class PathCost:
    """The shortest path to one ending, billed; a channel is None when it was not estimated."""

    ending: str
    kind: str
    rcs: Bill | None
    rcs_conversational: Bill | None
    sms: Bill | None
    notes: tuple[str, ...] = ()

    def json(self) -> dict[str, Any]:
        return {
            "ending": self.ending,
            "kind": self.kind,
            "rcs": self.rcs.json() if self.rcs else None,
            "rcs_conversational": self.rcs_conversational.json()
            if self.rcs_conversational
            else None,
            "sms": self.sms.json() if self.sms else None,
            "notes": list(self.notes),
        }


@dataclass(slots=True)
class FlowCost:
    path: str
    flow: str | None = None
    currency: str = "EUR"
    paths: list[PathCost] = field(default_factory=list)
    not_estimated: list[tuple[str, str, str]] = field(default_factory=list)
    """Endings no path was estimated for: (ending, kind, why)."""
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    """Why nothing was estimated (the flow has errors)."""

    def json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "flow": self.flow,
            "currency": self.currency,
            "start": ESTIMATE_AT.isoformat(),
            "recipient": RECIPIENT,
            "paths": [path.json() for path in self.paths],
            "not_estimated": [
                {"ending": ending, "kind": kind, "reason": reason}
                for ending, kind, reason in self.not_estimated
            ],
            "notes": list(self.notes),
            "error": self.error,
        }


def billing_policy(config: FilePath | None) -> BillingPolicy:
    """The `billing:` section of a `bots.yaml`, or the defaults; ValueError when it is wrong."""
    if config is None:
        return BillingPolicy()
    try:
        text = config.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read {config}: {error}") from None
    raw, problems = load_yaml(text, str(config))
    if problems:
        raise ValueError(str(problems[0]))
    section = raw.get("billing") if isinstance(raw, dict) else None
    try:
        return BillingSettings.model_validate(section or {}).policy()
    except ValidationError as error:
        detail = error.errors()[0]
        where = ".".join(str(part) for part in ("billing", *detail["loc"]))
        raise ValueError(f"{config}: {where}: {detail['msg']}") from None


def estimate_files(files: list[FilePath], policy: BillingPolicy) -> list[FlowCost]:
    return [estimate_file(path, policy) for path in files]


def estimate_file(path: FilePath, policy: BillingPolicy) -> FlowCost:
    """The estimate of one flow file; never raises (a flow with errors is not estimated)."""
    try:
        flow = load_flow(path)
    except FlowError:
        return FlowCost(str(path), error="the flow has errors: fix them to get an estimate")
    try:
        return asyncio.run(estimate_flow(flow, policy, str(path)))
    except Exception as error:  # the estimate must never stop `validate`
        return FlowCost(str(path), flow.id, error=f"the estimate failed: {error!r}")


async def estimate_flow(flow: CompiledFlow, policy: BillingPolicy, path: str) -> FlowCost:
    on_rcs = await explore(flow, Channel.RCS, ESTIMATE_AT)
    on_sms = await explore(flow, Channel.T2C, ESTIMATE_AT)
    result = FlowCost(path, flow.id, policy.prices.currency)
    kinds = endings(flow)
    found = list(dict.fromkeys([*on_rcs.paths, *on_sms.paths]))
    found.sort(key=lambda name: min(_turns(on_rcs, name), _turns(on_sms, name)))
    for name in found[:MAX_PATHS]:
        result.paths.append(_path_cost(flow, policy, name, on_rcs, on_sms))
    if len(found) > MAX_PATHS:
        cut = ", ".join(found[MAX_PATHS:])
        result.notes.append(f"at most {MAX_PATHS} paths: not shown {cut}")
    for name, kind in kinds.items():
        if name not in found:
            result.not_estimated.append((name, kind, _why_missing(on_rcs, on_sms)))
    return result


def _turns(exploration: Exploration, name: str) -> int:
    path = exploration.paths.get(name)
    return path.turns if path is not None else MAX_TURNS + 1


def _path_cost(
    flow: CompiledFlow, policy: BillingPolicy, name: str, on_rcs: Exploration, on_sms: Exploration
) -> PathCost:
    rcs_path, sms_path = on_rcs.paths.get(name), on_sms.paths.get(name)
    either = rcs_path or sms_path
    kind = either.kind if either is not None else "end"
    notes: list[str] = []
    if rcs_path is None:
        notes.append(f"RCS: not estimated ({_why_missing(on_rcs)})")
    if sms_path is None:
        notes.append(f"SMS: not estimated ({_why_missing(on_sms)})")
    rcs = conversational = sms = None
    if rcs_path is not None:
        track = _rcs_tracker(policy, conversational=False)
        rcs = _bill(flow, policy, rcs_path, track, rcs=True)
        track = _rcs_tracker(policy, conversational=True)
        conversational = _bill(flow, policy, rcs_path, track, rcs=True)
    if sms_path is not None:
        track = _t2c_tracker(policy)
        sms = _bill(flow, policy, sms_path, track, rcs=False)
    return PathCost(name, kind, rcs, conversational, sms, tuple(notes))


def _why_missing(*explorations: Exploration) -> str:
    reasons: list[str] = []
    if any(e.deep for e in explorations):
        reasons.append(f"no conversation reached it within {MAX_TURNS} turns")
    if any(e.cut for e in explorations):
        reasons.append(f"the search stopped after {TURN_BUDGET} simulated turns")
    if not reasons:
        reasons.append("no reply the estimate can make up leads there")
    errors = {state: error for e in explorations for state, error in e.errors.items()}
    if errors:
        reasons.append("run-time errors: " + "; ".join(errors.values()))
    return "; ".join(reasons)


def _rcs_tracker(policy: BillingPolicy, *, conversational: bool) -> Tracker:
    def track(state: dict[str, Any] | None, event: Mt | Mo) -> Any:
        return rcs_step(state, event, policy, conversational=conversational)

    return track


def _t2c_tracker(policy: BillingPolicy) -> Tracker:
    def track(state: dict[str, Any] | None, event: Mt | Mo) -> Any:
        return t2c_step(state, event, policy)

    return track


def _bill(
    flow: CompiledFlow, policy: BillingPolicy, path: Path, track: Tracker, *, rcs: bool
) -> Bill:
    """Replays the path's messages and replies, in order, through a billing tracker."""
    channel, sender = ("rcs", AGENT) if rcs else ("t2c", T2C_NUMBER)
    state: dict[str, Any] | None = None
    entries: list[LedgerEntry] = []
    sent: list[tuple[str, Mt]] = []
    last = ESTIMATE_AT
    for index, event in enumerate(path.events):
        key = f"{flow.id}-{index}"
        if isinstance(event, Said):
            mt = _rcs_mt(flow, key, event) if rcs else _sms_mt(flow, key, event)
            sent.append((event.state, mt))
            state, more = track(state, mt)
            last = mt.at
        else:
            state, more = track(state, Mo(key, flow.id, RECIPIENT, event.at, channel, sender))
            last = event.at
        entries.extend(more)
    if rcs:  # what nobody answered is billed once its 24 h pass (R22)
        entries.extend(rcs_settle(state, last + DAY, policy)[1])
    billed = {e.message_key: e for e in entries if e.kind is LedgerKind.MESSAGE}
    messages: list[Sent] = []
    for owner, mt in sent:
        entry = billed.get(mt.key)
        billing_class = entry.billing_class if entry is not None else "unbilled"
        amount = entry.amount if entry is not None else Decimal(0)
        messages.append(Sent(owner, billing_class, None if rcs else mt.segments, amount))
    classes: Counter[str] = Counter()
    for entry in entries:
        classes[entry.billing_class] += entry.quantity
    total = sum((entry.amount for entry in entries), Decimal(0))
    return Bill(
        channel, path.states, path.moves, tuple(messages), total, dict(classes), path.backend
    )


def _rcs_mt(flow: CompiledFlow, key: str, said: Said) -> Mt:
    """As the router bills a message (`fallback.billed.rcs_mt`)."""
    try:
        parts = render_rbm_messages(said.message.content)
    except ValueError:  # over an RBM limit once rendered: count it as rich
        parts = [{"contentMessage": {"text": said.message.text, "oversized": True}}]
    return rcs_mt(key, flow.id, RECIPIENT, said.message.at, AGENT, parts)


def _sms_mt(flow: CompiledFlow, key: str, said: Said) -> Mt:
    sms = said.message.sms
    assert sms is not None
    return Mt(
        key,
        flow.id,
        RECIPIENT,
        said.message.at,
        "t2c",
        T2C_NUMBER,
        "t2c_number",
        segments=sms.segments.count,
        characters=len(sms.text),
    )
