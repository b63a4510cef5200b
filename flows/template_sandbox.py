"""The Jinja2 sandbox flow templates run in, with limits on CPU and on the size of values.

Jinja2's `ImmutableSandboxedEnvironment` blocks attribute escapes such as
`''.__class__.__mro__` and mutation of the context, but it bounds neither CPU nor memory
(reference/libs.md §4): `{{ 'x' * 10**8 }}` happily allocates 100 MB, and three nested loops
of 10,000 items spin for hours while producing nothing. A worker runs many conversations on
one event loop, so one such template would stall them all. This environment therefore:

- refuses repetitions, powers, ranges, numeric arguments and format widths past fixed caps,
  and predicts the size of the operations that multiply their input (`replace`, `join`,
  `indent`, `expandtabs`, integer products) before running them;
- checks the size of every value an operation, filter or call returns (`MAX_OUTPUT`
  characters for a string, `MAX_WEIGHT` for a container counted with its contents);
- counts a render's steps (loop iterations, calls, filters, operators, attribute and item
  lookups) against `MAX_STEPS`, in the sandbox's own hooks and in a code generator that meters
  every `for` loop: no thread, no signal, nothing that would fight asyncio. The count lives in
  a context variable set by `render_budget` for the duration of one synchronous render.

Every refusal raises `jinja2.exceptions.SecurityError` naming the limit.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, Final, TypeVar

from jinja2 import Undefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT: Final = 32_000
"""Characters a template may render, and the longest string any step may build; RBM text stops
at 3,072 and a card description at 2,000."""
MAX_SEQUENCE: Final = 10_000
"""Largest string or list a template may build by repetition, and largest range."""
MAX_ARGUMENT: Final = 10_000
"""Largest integer argument to a filter or call (widths, counts)."""
MAX_EXPONENT: Final = 100
MAX_INTEGER_BITS: Final = 4_096
"""Largest integer a product or power may build (a squaring loop doubles its size each time)."""
MAX_WEIGHT: Final = 1_000_000
"""Characters a container may hold, its items' contents counted: `[s] * 10000` with a long
`s` is small as a list and huge once joined or printed."""
MAX_STEPS: Final = 100_000
"""Loop iterations, calls, filters, operators and lookups one render may take; a few
milliseconds of CPU, where a reminder or a quote takes a few hundred."""

MACRO_CALL_STEPS: Final = 10
CHARACTERS_PER_STEP: Final = 100
"""Building strings costs steps too: a render allocates at most about 10 MB in all."""

_WIDE_FORMAT = re.compile(r"[{%][^{}%]*?\d{5,}")
T = TypeVar("T")


class RenderBudget:
    """The steps one render has left."""

    __slots__ = ("left",)

    def __init__(self, steps: int = MAX_STEPS) -> None:
        self.left = steps

    def charge(self, steps: int = 1) -> None:
        self.left -= steps
        if self.left < 0:
            raise SecurityError(
                f"rendering took over {MAX_STEPS} steps (loop iterations, calls and lookups)"
            )


_BUDGET: ContextVar[RenderBudget | None] = ContextVar("causette_template_budget", default=None)


def render_budget(function: Callable[[], T], steps: int = MAX_STEPS) -> T:
    """`function()` (one synchronous render) with a fresh budget of `steps`."""
    token = _BUDGET.set(RenderBudget(steps))
    try:
        return function()
    finally:
        _BUDGET.reset(token)


def _charge(steps: int = 1) -> None:
    # Outside `render_budget` (static checks constant-folding an expression) nothing is counted.
    budget = _BUDGET.get()
    if budget is not None:
        budget.charge(steps)


def _metered(iterable: Iterable[T]) -> Iterator[T]:
    for item in iterable:
        _charge()
        yield item


def weight(value: Any, limit: int = MAX_WEIGHT) -> int:
    """Characters `value` holds, its items' contents counted; stops counting past `limit`."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        items: Iterable[Any] = (*value.keys(), *value.values())
    elif isinstance(value, list | tuple | set | frozenset):
        items = value
    else:
        return 1
    total = 1
    for item in items:
        total += 1 + weight(item, limit - total)
        if total > limit:
            break
    return total


def _bounded(value: T) -> T:
    """`value`, if no larger than any template needs; building it costs a step per
    `CHARACTERS_PER_STEP` characters, which bounds what a render allocates in all."""
    if isinstance(value, str):
        size = len(value)
        if size > MAX_OUTPUT:
            raise SecurityError(f"a string of {size} characters is over the limit of {MAX_OUTPUT}")
    elif isinstance(value, list | tuple | Mapping | set | frozenset):
        size = weight(value)
        if size > MAX_WEIGHT:
            raise SecurityError(f"a value of over {MAX_WEIGHT} characters is over the limit")
    else:
        if isinstance(value, int) and value.bit_length() > MAX_INTEGER_BITS:
            _refuse_big_integer(value.bit_length())
        return value
    _charge(size // CHARACTERS_PER_STEP)
    return value


def _predicted(size: int, what: str) -> None:
    if size > MAX_OUTPUT:
        raise SecurityError(f"{what} would build {size} characters, over the limit of {MAX_OUTPUT}")


def _check_amplifier(name: str, target: Any, args: tuple[Any, ...]) -> None:
    """Refuses, before it runs, an operation whose result is a multiple of its input.

    `target` is the string the method is bound to (or the filter's value), `args` the rest.
    """
    if not isinstance(target, str):
        return
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str):
        new = args[1]
        count = target.count(args[0]) if args[0] else len(target) + 1
        if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
            count = min(count, args[2])
        grown = count * (len(str(new)) - len(args[0]))
        _predicted(len(target) + grown, "replace")
    elif name == "join" and args:
        items = args[0]
        if isinstance(items, str | list | tuple):
            _predicted(len(target) * len(items) + weight(items), "join")
    elif name == "indent":
        width = args[0] if args else 4
        size = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        _predicted(len(target) + (target.count("\n") + 1) * size, "indent")
    elif name == "expandtabs":
        size = args[0] if args and isinstance(args[0], int) else 8
        _predicted(len(target) + target.count("\t") * size, "expandtabs")


def _check_format(template: str, values: Iterable[Any]) -> None:
    """`'{0}{0}{0}…'.format(s)` or `'%(a)s%(a)s…' % {'a': s}` repeats its longest value once
    per field: refused before it runs when that would pass the cap."""
    flat: list[Any] = []
    for value in values:
        flat.extend(value.values() if isinstance(value, Mapping) else [value])
    longest = max((weight(value) for value in flat), default=0)
    fields = template.count("{") + template.count("%")
    _predicted(len(template) + fields * longest, "format")


def _refuse_large_arguments(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_ARGUMENT:
            raise SecurityError(f"argument {value} is over the limit of {MAX_ARGUMENT}")
        if isinstance(value, str) and "%" in value and _WIDE_FORMAT.search(value):
            raise SecurityError("format width over the limit")


def _guarded(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _charge()
        # Filters that take the environment or context get it first; the value comes next.
        given = [a for a in args if not _is_jinja_internal(a)]
        value, rest = (given[0], tuple(given[1:])) if given else (None, ())
        # Only `format` reads widths from its value.
        _refuse_large_arguments((value, *rest) if name == "format" else rest, kwargs)
        if name == "join" and isinstance(value, Iterable) and not isinstance(value, Mapping):
            # The filter's value is the items (a string's are its characters) and its argument
            # the separator; a generator's size is known once it has run, counted.
            separator = rest[0] if rest and isinstance(rest[0], str) else ""
            items = value if isinstance(value, str | list | tuple) else list(_metered(value))
            _check_amplifier("join", separator, (items,))
            args = tuple(items if a is value else a for a in args)
        elif name == "format" and isinstance(value, str):
            _check_format(value, (*rest, kwargs))
        else:
            _check_amplifier(name, value, rest)
        return _bounded(function(*args, **kwargs))

    return guarded


def _is_jinja_internal(value: Any) -> bool:
    return isinstance(value, EvalContext | Context | ImmutableSandboxedEnvironment)


def _capped_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_SEQUENCE:
        raise SecurityError(f"range of {len(numbers)} items is over the limit of {MAX_SEQUENCE}")
    return numbers


class _MeteredCodeGenerator(CodeGenerator):
    """Jinja's code generator, with every `for` loop's items counted and every `~`
    concatenation's result checked (Jinja refuses custom node types: the loop's iterable is
    recognised by identity when it is visited)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loop_iterables: set[int] = set()

    def visit(self, node: nodes.Node, *args: Any, **kwargs: Any) -> Any:
        if id(node) not in self._loop_iterables:
            return super().visit(node, *args, **kwargs)
        self.write("environment.metered(")
        super().visit(node, *args, **kwargs)
        self.write(")")
        return None

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        self._loop_iterables.add(id(node.iter))
        super().visit_For(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded(")
        super().visit_Concat(node, frame)
        self.write(")")


class FlowEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox every flow template and expression is compiled in."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _MeteredCodeGenerator

    def __init__(self, undefined: type[Undefined]) -> None:
        super().__init__(undefined=undefined, autoescape=False, keep_trailing_newline=False)
        self.filters = {name: _guarded(name, f) for name, f in self.filters.items()}
        self.globals["range"] = _capped_range
        # `lipsum(10000, false, 10000, 10000)` writes 10^8 words in one call: no bot needs it.
        del self.globals["lipsum"]

    @staticmethod
    def metered(iterable: Iterable[T]) -> Iterator[T]:
        """The loop's items, each charged to the render's budget (generated code calls it)."""
        return _metered(iterable)

    @staticmethod
    def bounded(value: T) -> T:
        return _bounded(value)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _charge()
        # A dict's own keys win over its methods: `vars.cart.items` is the value stored under
        # "items", not `dict.items` (reference/libs.md §4).
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _charge()
        return super().getitem(obj, argument)

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        _charge()
        if op == "*":
            for sequence, times in ((left, right), (right, left)):
                if isinstance(sequence, str | list | tuple) and isinstance(times, int):
                    if len(sequence) * times > MAX_SEQUENCE:
                        raise SecurityError(
                            f"repetition would build {len(sequence) * times} items, "
                            f"over the limit of {MAX_SEQUENCE}"
                        )
                    if weight(sequence) * times > MAX_WEIGHT:
                        raise SecurityError(f"repetition would build over {MAX_WEIGHT} characters")
            if isinstance(left, int) and isinstance(right, int):
                _refuse_big_integer(left.bit_length() + right.bit_length())
            return _bounded(operator.mul(left, right))
        if op == "+":
            return _bounded(operator.add(left, right))
        if op == "%":
            if isinstance(left, str):
                # printf-style formatting allocates its widths before any output cap sees them
                if _WIDE_FORMAT.search(left):
                    raise SecurityError("format width over the limit")
                _refuse_large_arguments(right if isinstance(right, tuple) else (right,), {})
                _check_format(left, right if isinstance(right, tuple) else (right,))
            return _bounded(operator.mod(left, right))
        if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is over the limit of {MAX_EXPONENT}")
        if isinstance(left, int) and isinstance(right, int) and right > 0:
            _refuse_big_integer(left.bit_length() * right)
        return _bounded(operator.pow(left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        # A macro call sets up a frame and renders a body: about ten lookups' worth.
        _charge(MACRO_CALL_STEPS if isinstance(__obj, Macro) else 1)
        _refuse_large_arguments(args, kwargs)
        bound_to = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if name == "join" and args and not isinstance(args[0], str | list | tuple | Mapping):
            # A generator's size is known once it has run: run it, counted, then check.
            args = (list(_metered(args[0])), *args[1:])
        _check_amplifier(name, bound_to, args)
        if isinstance(__obj, LoopContext):
            # `loop(children)` of a recursive loop iterates what it is given.
            args = tuple(_metered(a) if isinstance(a, Iterable) else a for a in args)
        return _bounded(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # Jinja wraps `str.format` when it is looked up, not when it is called.
        wrapped = super().wrap_str_format(value)
        template = getattr(value, "__self__", None)
        if wrapped is None or not isinstance(template, str):
            return wrapped
        if _WIDE_FORMAT.search(template):
            raise SecurityError("format width over the limit")

        def checked(*args: Any, **kwargs: Any) -> str:
            _check_format(template, (*args, kwargs))
            return _bounded(wrapped(*args, **kwargs))

        return checked


def _refuse_big_integer(bits: int) -> None:
    if bits > MAX_INTEGER_BITS:
        raise SecurityError(f"an integer of over {MAX_INTEGER_BITS} bits is over the limit")
