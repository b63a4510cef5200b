"""Jinja2 templates of a flow, compiled once when the flow is loaded and run in the sandbox of
`flows.template_sandbox`, which bounds their CPU and the size of what they build.

A failure at run time (an undefined name, a refused operation, too much output, too many
steps, a division by zero) is a `TemplateRenderError` with a message for the flow's author.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar, cast

from jinja2 import StrictUndefined, Template, TemplateError, nodes
from jinja2.environment import TemplateExpression
from jinja2.exceptions import SecurityError

from flows.template_sandbox import (
    MAX_ARGUMENT,
    MAX_EXPONENT,
    MAX_OUTPUT,
    MAX_SEQUENCE,
    MAX_STEPS,
    FlowEnvironment,
    render_budget,
)

__all__ = [
    "CONTEXT_NAMES",
    "ENVIRONMENT",
    "MAX_ARGUMENT",
    "MAX_EXPONENT",
    "MAX_OUTPUT",
    "MAX_SEQUENCE",
    "MAX_STEPS",
    "Expression",
    "Scope",
    "TemplateRenderError",
    "TextTemplate",
    "has_template",
    "is_template",
    "parse_names",
    "value_template",
]

T = TypeVar("T")

_TEMPLATE_MARKERS = ("{{", "{%", "{#")
_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}|\{%).)*)\}\}\s*$", re.DOTALL)

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


ENVIRONMENT: Final = FlowEnvironment(undefined=_Undefined)


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
        template = self._template
        if template is None:
            return self.source

        def run() -> str:
            pieces: list[str] = []
            size = 0
            for piece in template.root_render_func(
                template.new_context(cast(dict[str, Any], context))
            ):
                size += len(piece)
                if size > MAX_OUTPUT:
                    raise TemplateRenderError(
                        f"template output is over the limit of {MAX_OUTPUT} characters"
                    )
                pieces.append(piece)
            return "".join(pieces)

        return _rendered(run)


class Expression:
    """A Jinja expression (`if:` conditions, `{{ expr }}` values of `set`), compiled once."""

    __slots__ = ("_compiled", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self._compiled = _compiled_expression(source)

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        def run() -> Any:
            value = self._compiled(**context)
            if isinstance(value, StrictUndefined):
                str(value)  # raises UndefinedError naming what is missing
            return value

        value = _rendered(run)
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


def _rendered(run: Callable[[], T]) -> T:
    """`run()` within a render budget, any failure of the template as a TemplateRenderError.

    A template is its author's code: a division by zero or a wrong type in it fails the
    template, named as such, rather than the worker.
    """
    try:
        return render_budget(run)
    except TemplateRenderError:
        raise
    except TemplateError as error:
        raise TemplateRenderError(_describe(error)) from None
    except RecursionError:
        raise TemplateRenderError("template failed: macros or loops nest too deeply") from None
    except Exception as error:  # the author's code failed, whatever the error
        raise TemplateRenderError(f"template failed: {type(error).__name__}: {error}") from None


def _describe(error: TemplateError) -> str:
    if isinstance(error, SecurityError):
        return f"refused by the template sandbox: {error}"
    return str(error.message or error)
