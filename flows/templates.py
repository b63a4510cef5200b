"""Jinja2 templates of a flow, run in a sandbox with limits on what they may produce.

Jinja2's `ImmutableSandboxedEnvironment` blocks attribute escapes such as
`''.__class__.__mro__` and mutation of the context, but it does not bound CPU or memory
(reference/libs.md §4): `{{ 'x' * 10**8 }}` happily allocates 100 MB. This environment also
refuses repetitions, powers, ranges, numeric arguments and format widths past fixed caps, and
cuts rendering off once the output passes `MAX_OUTPUT` characters. Templates and `if:`
expressions are compiled once, when the flow is loaded.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, cast

from jinja2 import StrictUndefined, Template, TemplateError, nodes
from jinja2.environment import TemplateExpression
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT: Final = 32_000
"""Characters a template may render; RBM text stops at 3,072 and a card description at 2,000."""
MAX_SEQUENCE: Final = 10_000
"""Largest string or list a template may build by repetition, and largest range."""
MAX_ARGUMENT: Final = 10_000
"""Largest integer argument to a filter or call (widths, counts)."""
MAX_EXPONENT: Final = 100

_TEMPLATE_MARKERS = ("{{", "{%", "{#")
_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}|\{%).)*)\}\}\s*$", re.DOTALL)
_WIDE_FORMAT = re.compile(r"[{%][^{}%]*?\d{5,}")

CONTEXT_NAMES: Final = frozenset({"contact", "vars", "input", "channel", "bot", "now", "env"})
"""Names every template may use (FLOWS.md "Templates and context")."""


class Scope(dict[str, Any]):
    """A mapping of the template context that knows its name (`vars`, `contact`...).

    With it, a missing key reads `contact.first_name is undefined` rather than Jinja's
    `'dict object' has no attribute 'first_name'`.
    """

    __slots__ = ("name",)

    def __init__(self, name: str, values: Mapping[str, Any] | None = None) -> None:
        super().__init__(values or {})
        self.name = name


class _Undefined(StrictUndefined):
    @property
    def _undefined_message(self) -> str:
        owner, name = self._undefined_obj, self._undefined_name
        if isinstance(owner, Scope) and not self._undefined_hint:
            return f"{owner.name}.{name} is undefined"
        return str(super()._undefined_message)


class TemplateRenderError(Exception):
    """A template failed at run time: an undefined name, a refused operation, too much output."""


def is_template(text: str) -> bool:
    return any(marker in text for marker in _TEMPLATE_MARKERS)


def has_template(value: Any) -> bool:
    """True when a string anywhere in `value` (mappings and lists walked) is a template."""
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, Mapping):
        return any(has_template(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(has_template(item) for item in value)
    return False


def _refuse_large_arguments(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_ARGUMENT:
            raise SecurityError(f"argument {value} is over the limit of {MAX_ARGUMENT}")
        if isinstance(value, str) and "%" in value and _WIDE_FORMAT.search(value):
            raise SecurityError("format width over the limit")


def _guarded(function: Callable[..., Any], *, check_value: bool = False) -> Callable[..., Any]:
    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        # The first argument is the filtered value; only `format` reads widths from it.
        _refuse_large_arguments(args if check_value else args[1:], kwargs)
        return function(*args, **kwargs)

    return guarded


def _capped_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_SEQUENCE:
        raise SecurityError(f"range of {len(numbers)} items is over the limit of {MAX_SEQUENCE}")
    return numbers


class FlowEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self) -> None:
        super().__init__(undefined=_Undefined, autoescape=False, keep_trailing_newline=False)
        self.filters = {
            name: _guarded(f, check_value=name == "format") for name, f in self.filters.items()
        }
        self.globals["range"] = _capped_range

    def getattr(self, obj: Any, attribute: str) -> Any:
        # A dict's own keys win over its methods: `vars.cart.items` is the value stored under
        # "items", not `dict.items` (reference/libs.md §4).
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return super().getattr(obj, attribute)

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        if op == "*":
            for sequence, times in ((left, right), (right, left)):
                repeated = isinstance(sequence, str | list | tuple) and isinstance(times, int)
                if repeated and len(sequence) * times > MAX_SEQUENCE:
                    raise SecurityError(
                        f"repetition would build {len(sequence) * times} items, "
                        f"over the limit of {MAX_SEQUENCE}"
                    )
            return operator.mul(left, right)
        if op == "%":
            if isinstance(left, str):
                # printf-style formatting allocates its widths before any output cap sees them
                if _WIDE_FORMAT.search(left):
                    raise SecurityError("format width over the limit")
                _refuse_large_arguments(right if isinstance(right, tuple) else (right,), {})
            return operator.mod(left, right)
        if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is over the limit of {MAX_EXPONENT}")
        return operator.pow(left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _refuse_large_arguments(args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        bound_to = getattr(value, "__self__", None)
        if isinstance(bound_to, str) and _WIDE_FORMAT.search(bound_to):
            raise SecurityError("format width over the limit")
        return super().wrap_str_format(value)


ENVIRONMENT: Final = FlowEnvironment()


# Compiling costs 50-120 times a render (reference/libs.md §4) and validation compiles every
# template before the compiler does: both share one compiled object per source text.
@functools.lru_cache(maxsize=16_384)
def _compiled_template(source: str) -> Template:
    return ENVIRONMENT.from_string(source)


@functools.lru_cache(maxsize=16_384)
def _compiled_expression(source: str) -> TemplateExpression:
    return ENVIRONMENT.compile_expression(source, undefined_to_none=False)


class TextTemplate:
    """A string that may hold Jinja; renders to a string of at most `MAX_OUTPUT` characters."""

    __slots__ = ("_template", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self._template = _compiled_template(source) if is_template(source) else None

    @property
    def is_constant(self) -> bool:
        return self._template is None

    def render(self, context: Mapping[str, Any]) -> str:
        if self._template is None:
            return self.source
        try:
            pieces: list[str] = []
            size = 0
            for piece in self._template.root_render_func(
                self._template.new_context(cast(dict[str, Any], context))
            ):
                size += len(piece)
                if size > MAX_OUTPUT:
                    raise TemplateRenderError(
                        f"template output is over the limit of {MAX_OUTPUT} characters"
                    )
                pieces.append(piece)
        except TemplateError as error:
            raise TemplateRenderError(_describe(error)) from None
        return "".join(pieces)


class Expression:
    """A Jinja expression (`if:` conditions, `{{ expr }}` values of `set`), compiled once."""

    __slots__ = ("_compiled", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self._compiled = _compiled_expression(source)

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        try:
            value = self._compiled(**context)
            if isinstance(value, StrictUndefined):
                str(value)  # raises UndefinedError naming what is missing
        except TemplateError as error:
            raise TemplateRenderError(_describe(error)) from None
        if isinstance(value, str) and len(value) > MAX_OUTPUT:
            raise TemplateRenderError(
                f"expression value is over the limit of {MAX_OUTPUT} characters"
            )
        return value

    def is_true(self, context: Mapping[str, Any]) -> bool:
        return bool(self.evaluate(context))


def value_template(value: Any) -> Callable[[Mapping[str, Any]], Any]:
    """How a `set:` value (or a `json:` body) is produced: literal, native expression or text.

    `"{{ vars.count + 1 }}"` (one expression alone) keeps its native type (an int here); other
    strings with template markers render to text; lists and mappings are walked.
    """
    if isinstance(value, str):
        whole = _SINGLE_EXPRESSION.match(value)
        if whole:
            return Expression(whole.group("expr")).evaluate
        if is_template(value):
            return TextTemplate(value).render
        return lambda _context: value
    if isinstance(value, Mapping):
        items = [(key, value_template(item)) for key, item in value.items()]
        return lambda context: {key: make(context) for key, make in items}
    if isinstance(value, list | tuple):
        makers = [value_template(item) for item in value]
        return lambda context: [make(context) for make in makers]
    return lambda _context: value


def parse_names(source: str, *, expression: bool = False) -> nodes.Template:
    """The AST of a template or expression, for static checks; raises TemplateSyntaxError."""
    text = "{{ " + source + " }}" if expression else source
    return ENVIRONMENT.parse(text)


def _describe(error: TemplateError) -> str:
    if isinstance(error, SecurityError):
        return f"refused by the template sandbox: {error}"
    return str(error.message or error)
