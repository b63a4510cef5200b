"""One turn of a conversation: `step(flow, snapshot, event, ...)` -> `StepResult`.

Pure apart from the injected HTTP caller: the same inputs give the same result, nothing is
sent or stored here. The runtime sends `result.messages`, arms and cancels `result.arm` /
`result.cancel` timers and stores `result.snapshot`, all in one write.

Order of a state's entry (FLOWS.md "States"): `set`, `call`, `say`, then `ask`, `goto`,
`handoff` or `end`; otherwise the state waits. Input is matched against the state's `on`, then
the global `on`, then (for an `ask`) validated as an answer, then `otherwise`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from flows.answers import Answer, read_answer
from flows.compiler import (
    CompiledContent,
    CompiledFlow,
    CompiledState,
    CompiledTransition,
    Maker,
    goto_trigger,
)
from flows.conversation import (
    Event,
    FlowRuntimeError,
    Handoff,
    HttpCaller,
    HttpRequest,
    Received,
    Snapshot,
    Start,
    Status,
    StepResult,
    Timer,
    TimerFired,
    TurnContext,
)
from flows.durations import format_duration
from flows.matching import TurnInput, meets_input_conditions
from flows.templates import Scope, TemplateRenderError
from messaging.clock import Clock
from messaging.inbound import Inbound

MAX_MOVES_PER_TURN = 100
"""A guard against `goto` loops that validation could not prove finite (conditional ones)."""


async def _no_http(request: HttpRequest) -> Any:
    raise RuntimeError("this flow makes HTTP calls but no HTTP caller was given")


class _Cursor:
    """The light object the shared machine moves: it carries only the state name."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


class _Turn:
    def __init__(
        self,
        flow: CompiledFlow,
        snapshot: Snapshot,
        context: TurnContext,
        clock: Clock,
        http: HttpCaller,
    ) -> None:
        self.flow = flow
        self.snapshot = replace(snapshot, vars=Scope("vars", snapshot.vars))
        self.clock = clock
        self.http = http
        self.result = StepResult(snapshot=self.snapshot)
        self.cursor = _Cursor(snapshot.state)
        self.moves = 0
        self.input = TurnInput(None, snapshot.choices, context.channel.is_sms)
        self.numbered = context.channel.is_sms
        self.context: dict[str, Any] = {
            "contact": Scope("contact", context.contact),
            "vars": self.snapshot.vars,
            "input": self.input.as_context(),
            "channel": str(context.channel),
            "bot": Scope("bot", context.bot),
            "now": clock.now().astimezone(context.timezone),
            "env": Scope("env", context.env),
        }
        self.today = self.context["now"].date()

    @property
    def state(self) -> CompiledState:
        return self.flow.states[self.snapshot.state]

    # --- events --------------------------------------------------------------------------

    async def start(self) -> None:
        self.cursor.state = self.flow.start
        await self._enter(self.flow.start, initial=True)

    async def receive(self, message: Inbound) -> None:
        self.input = TurnInput(message, self.snapshot.choices, self.numbered)
        self.context["input"] = self.input.as_context()
        state = self.state
        transition = self._first_match(state.on_input) or self._first_match(self.flow.global_on)
        if transition is not None:
            await self._take(transition)
        elif state.ask is not None:
            await self._answer(state)
        elif state.otherwise is not None:
            self.result.trace.append("otherwise")
            self._apply(state.otherwise.set, state.otherwise.say)
            await self._move_or_stay(state.otherwise.goto)
        else:
            self.result.trace.append("no transition matched; waiting")
            self._restart_wait()

    async def timer(self, key: str) -> None:
        state = self.state
        index = self._timer_index(state, key)
        if index is None:
            self.result.trace.append(f"timer {key} is stale; ignored")
            return
        transition, delay = state.on_timer[index]
        if transition.condition is not None and not self._evaluate(transition.condition.is_true):
            self.result.trace.append(f"timer {key}: condition false")
            return
        self.result.trace.append(f"after {format_duration(delay)} in {state.name}")
        self._apply(transition.set, transition.say)
        if transition.goto is not None:
            await self._move(transition.goto)

    # --- moves ---------------------------------------------------------------------------

    async def _take(self, transition: CompiledTransition) -> None:
        self.result.trace.append(f"on[{transition.index}] matched")
        self._apply(transition.set, transition.say)
        await self._move_or_stay(transition.goto)

    async def _move_or_stay(self, dest: str | None) -> None:
        if dest is None:
            self._restart_wait()
        else:
            await self._move(dest)

    async def _move(self, dest: str) -> None:
        self._cancel_timers()
        self.flow.machine.events[goto_trigger(dest)].trigger(self.cursor)
        await self._enter(self.cursor.state)

    async def _enter(self, name: str, *, initial: bool = False) -> None:
        self.moves += 1
        if self.moves > MAX_MOVES_PER_TURN:
            raise FlowRuntimeError(
                name, f"more than {MAX_MOVES_PER_TURN} moves in one turn: a goto loop"
            )
        snapshot = self.snapshot
        snapshot.state, snapshot.attempts = name, 0
        snapshot.epoch = 0 if initial else snapshot.epoch + 1
        state = self.state
        self.result.trace.append(f"enter {name}")
        self._apply(state.set, ())
        if state.call is not None and not await self._call(state):
            return
        self._send(state.say)
        if state.ask is not None:
            self._send_one(state.ask.prompt)
            self._arm_timers()
        elif state.goto:
            for condition, dest in state.goto:
                if condition is None or self._evaluate(condition.is_true):
                    await self._move(dest)
                    return
            self._arm_timers()
        elif state.spec.handoff is not None:
            self._send(state.handoff_say)
            snapshot.status = Status.HANDED_OFF
            self.result.handoff = Handoff(queue=state.spec.handoff.queue)
        elif state.spec.end:
            snapshot.status = Status.ENDED
            self.result.ended = True
        else:
            self._arm_timers()

    # --- ask -----------------------------------------------------------------------------

    async def _answer(self, state: CompiledState) -> None:
        ask = state.ask
        assert ask is not None
        spec = ask.spec
        outcome = read_answer(
            spec.type,
            self.input.text,
            data=self.input.data,
            choices=ask.choices,
            pattern=ask.pattern,
            minimum=spec.min,
            maximum=spec.max,
            today=self.today,
        )
        if isinstance(outcome, Answer):
            self.snapshot.vars[spec.var] = outcome.value
            self.result.trace.append(f"{spec.var} = {outcome.value!r}")
            for condition, dest in state.goto:
                if condition is None or self._evaluate(condition.is_true):
                    await self._move(dest)
                    return
            self._restart_wait()
            return
        self.snapshot.attempts += 1
        self.result.trace.append(
            f"answer refused ({outcome.reason}), attempt {self.snapshot.attempts}"
        )
        if spec.on_fail is not None and self.snapshot.attempts >= ask.max_attempts:
            await self._move(spec.on_fail)
            return
        self._send_one(ask.retry or ask.prompt)
        self._restart_wait()

    # --- effects -------------------------------------------------------------------------

    def _apply(self, sets: Iterable[tuple[str, Maker]], says: Iterable[CompiledContent]) -> None:
        for name, make in sets:
            self.snapshot.vars[name] = self._evaluate(make)
        self._send(says)

    def _send(self, contents: Iterable[CompiledContent]) -> None:
        for content in contents:
            self._send_one(content)

    def _send_one(self, content: CompiledContent | None) -> None:
        if content is None:
            return
        rendered = self._evaluate(content.render)
        self.result.messages.append(rendered)
        choices = content.choices(rendered)
        # A message without choices clears the numbering when it belongs to a new state (a
        # plain question); a help text said without leaving the state leaves it in force.
        if choices or self.moves:
            self.snapshot.choices = choices

    def _evaluate(self, function: Any) -> Any:
        try:
            return function(self.context)
        except TemplateRenderError as error:
            raise FlowRuntimeError(self.snapshot.state, str(error)) from None
        except ValueError as error:  # rendered content over an RBM limit
            raise FlowRuntimeError(
                self.snapshot.state, f"rendered content is invalid: {error}"
            ) from None

    async def _call(self, state: CompiledState) -> bool:
        """Makes the state's call; False when it failed and the turn moved to `on_error`."""
        call = state.call
        assert call is not None
        request = HttpRequest(
            method=str(call.spec.method),
            url=self._evaluate(call.url.render),
            headers={name: self._evaluate(value.render) for name, value in call.headers},
            json=self._evaluate(call.body) if call.body is not None else None,
            timeout=call.timeout,
        )
        try:
            async with asyncio.timeout(call.timeout.total_seconds()):
                response = await self.http(request)
            if not 200 <= response.status < 300:
                raise RuntimeError(f"HTTP {response.status}")
        except Exception as error:  # any failure of the backend call goes to on_error
            reason = "timed out" if isinstance(error, TimeoutError) else str(error)
            self.result.trace.append(f"call {request.method} {request.url} failed: {reason}")
            if call.spec.on_error is None:
                raise FlowRuntimeError(
                    state.name, f"call to {request.url} failed: {reason}"
                ) from None
            await self._move(call.spec.on_error)
            return False
        if call.spec.save is not None:
            self.snapshot.vars[call.spec.save] = response.json
        return True

    # --- matching ------------------------------------------------------------------------

    def _first_match(self, transitions: Iterable[CompiledTransition]) -> CompiledTransition | None:
        for transition in transitions:
            if self._matches(transition):
                return transition
        return None

    def _matches(self, transition: CompiledTransition) -> bool:
        if not meets_input_conditions(transition, self.input):
            return False
        return transition.condition is None or bool(self._evaluate(transition.condition.is_true))

    # --- timers --------------------------------------------------------------------------

    def _timer_key(self, index: int) -> str:
        return f"{self.snapshot.state}#{self.snapshot.epoch}/after{index}"

    def _timer_index(self, state: CompiledState, key: str) -> int | None:
        prefix = f"{state.name}#{self.snapshot.epoch}/after"
        if self.snapshot.status is not Status.ACTIVE or not key.startswith(prefix):
            return None
        suffix = key[len(prefix) :]
        index = int(suffix) if suffix.isdigit() else -1
        return index if 0 <= index < len(state.on_timer) else None

    def _arm_timers(self) -> None:
        now: datetime = self.clock.now()
        for index, (_, delay) in enumerate(self.state.on_timer):
            self.result.arm.append(Timer(self._timer_key(index), now + delay))

    def _cancel_timers(self) -> None:
        armed = {self._timer_key(i) for i in range(len(self.state.on_timer))}
        self.result.arm = [t for t in self.result.arm if t.key not in armed]
        self.result.cancel.extend(sorted(armed))

    def _restart_wait(self) -> None:
        """Input that keeps the conversation in its state restarts the state's `after` clocks."""
        if self.state.on_timer:
            self._cancel_timers()
            self.snapshot.epoch += 1
            self._arm_timers()


async def step(
    flow: CompiledFlow,
    snapshot: Snapshot | None,
    event: Event,
    *,
    context: TurnContext,
    clock: Clock,
    http: HttpCaller | None = None,
) -> StepResult:
    """Run one turn. `snapshot` is None only for `Start`; the input snapshot is not modified."""
    if snapshot is None:
        if not isinstance(event, Start):
            raise ValueError("only a Start event may come without a snapshot")
        snapshot = new_snapshot(flow)
    turn = _Turn(flow, snapshot, context, clock, http or _no_http)
    if isinstance(event, Start):
        await turn.start()
    elif snapshot.status is not Status.ACTIVE:
        turn.result.trace.append(f"conversation is {snapshot.status}; nothing to do")
    elif isinstance(event, Received):
        await turn.receive(event.message)
    elif isinstance(event, TimerFired):
        await turn.timer(event.key)
    return turn.result


def new_snapshot(flow: CompiledFlow, variables: Mapping[str, Any] | None = None) -> Snapshot:
    """A snapshot before the first turn: the flow's declared defaults, overridden by `variables`."""
    values = dict(flow.flow.vars)
    values.update(variables or {})
    return Snapshot(state=flow.start, vars=values)
