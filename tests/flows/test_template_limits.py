"""CPU and size limits of the template sandbox (flows/template_sandbox.py; issue 9, item 7).

Every hostile template below would hang a worker or exhaust its memory in a plain Jinja
sandbox; each must stop with a `TemplateRenderError` naming the limit it hit.
"""

from __future__ import annotations

from typing import Any

import pytest

from flows.template_sandbox import MAX_INTEGER_BITS, MAX_STEPS, MAX_WEIGHT, weight
from flows.templates import MAX_OUTPUT, Expression, TemplateRenderError, TextTemplate

LONG = "{% set s = 'x' * 10000 ~ 'x' * 10000 ~ 'x' * 10000 %}"
"""A 30,000-character string: under MAX_OUTPUT, the seed of every amplification below."""


def render(source: str, context: dict[str, Any] | None = None) -> str:
    return TextTemplate(source).render(context or {})


def refused(source: str) -> str:
    with pytest.raises(TemplateRenderError, match="refused by the template sandbox") as error:
        render(source)
    return str(error.value)


class TestCpu:
    def test_a_billion_iterations_in_one_loop_are_refused(self) -> None:
        assert "over the limit" in refused("{% for i in range(1000000000) %}x{% endfor %}")

    @pytest.mark.parametrize(
        "source",
        [
            # 10^12 iterations that write nothing: only the step budget can stop them.
            "{% for i in range(10000) %}{% for j in range(10000) %}{% for k in range(10000) %}"
            "{% endfor %}{% endfor %}{% endfor %}",
            # The same over strings and lists rather than ranges.
            "{% for a in 'x' * 10000 %}{% for b in ['y'] * 10000 %}{% endfor %}{% endfor %}",
            # 2^40 macro calls.
            "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
            "{{ f(40) }}",
            # A recursive loop re-iterating what it is given.
            "{% for x in [range(10000)] * 3 recursive %}{% if x is iterable %}{{ loop(x) }}"
            "{% endif %}{% endfor %}{% for x in range(10000) %}{% for y in range(10000) %}"
            "{% endfor %}{% endfor %}",
            "{% for x in range(10000) if x is odd %}{% for y in range(10000) %}"
            "{% endfor %}{% endfor %}",
        ],
    )
    def test_loops_and_calls_past_the_step_budget_are_stopped(self, source: str) -> None:
        message = refused(source)
        assert f"rendering took over {MAX_STEPS} steps" in message

    def test_unbounded_recursion_is_a_template_error(self) -> None:
        with pytest.raises(TemplateRenderError, match="nest too deeply"):
            render("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}")

    def test_the_budget_is_per_render(self) -> None:
        # About 60 % of the budget: two renders in a row both succeed.
        template = TextTemplate(
            "{% for i in range(250) %}{% for j in range(240) %}{% endfor %}{% endfor %}ok"
        )
        assert template.render({}) == "ok"
        assert template.render({}) == "ok"

    def test_a_refused_render_leaves_the_next_one_its_whole_budget(self) -> None:
        refused("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}")
        assert render("{% for i in range(9000) %}{% endfor %}done") == "done"


class TestSize:
    @pytest.mark.parametrize("operator", ["~", "+"])
    def test_a_string_doubled_in_a_namespace_is_stopped(self, operator: str) -> None:
        source = (
            "{% set ns = namespace(s='xxxxxxxxxx') %}{% for i in range(40) %}"
            f"{{% set ns.s = ns.s {operator} ns.s %}}{{% endfor %}}{{{{ ns.s | length }}}}"
        )
        assert f"a string of 40960 characters is over the limit of {MAX_OUTPUT}" in refused(source)

    def test_an_integer_squared_in_a_namespace_is_stopped(self) -> None:
        source = (
            "{% set ns = namespace(n=3) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}"
            "{% endfor %}{{ ns.n % 10 }}"
        )
        assert f"integer of over {MAX_INTEGER_BITS} bits" in refused(source)

    @pytest.mark.parametrize(
        ("source", "operation"),
        [
            (LONG + "{{ s | replace('x', s) | length }}", "replace"),
            (LONG + "{{ s.replace('x', s) | length }}", "replace"),
            (LONG + "{{ ([s] * 30) | join | length }}", "join"),
            (LONG + "{{ s.join(range(10000) | map('string')) | length }}", "join"),
            (LONG + "{{ s.join(s) | length }}", "join"),
            (LONG + "{{ s | join(s) | length }}", "join"),
            ("{% set f = '{0}' * 3000 ~ '{0}' * 3000 %}{{ f.format('x' * 9) | length }}", "format"),
            ("{{ (('%(a)s' * 2000) % {'a': 'x' * 9000}) | length }}", "format"),
            ("{{ ('%(a)s' * 2000) | format(a='x' * 9000) | length }}", "format"),
            ("{{ '{a}{a}{a}{a}'.format(a='x' * 9000) | length }}", "format"),
            ("{{ ('\\n' * 10000) | indent(10000, true) | length }}", "indent"),
            ("{{ ('\\t' * 10000).expandtabs(10000) | length }}", "expandtabs"),
        ],
    )
    def test_amplifying_operations_are_refused_before_they_run(
        self, source: str, operation: str
    ) -> None:
        assert f"{operation} would build" in refused(source)

    def test_a_list_of_many_references_to_a_long_string_is_refused(self) -> None:
        message = refused(LONG + "{{ ([s] * 10000) | string | length }}")
        assert f"repetition would build over {MAX_WEIGHT} characters" in message

    def test_a_huge_string_through_a_filter_is_refused(self) -> None:
        message = refused("{{ range(10000) | join(',') | length }}")
        assert "a string of 48889 characters is over the limit" in message

    def test_lipsum_is_not_offered(self) -> None:
        with pytest.raises(TemplateRenderError, match="'lipsum' is undefined"):
            render("{{ lipsum(10000, false, 10000, 10000) }}")

    def test_weight_counts_nested_contents_and_stops_at_the_limit(self) -> None:
        assert weight("abc") == 3
        assert weight(["ab", {"k": "vvv"}]) == 1 + (1 + 2) + (1 + (1 + (1 + 1) + (1 + 3)))
        assert weight(["x" * 50] * 100, limit=120) < 200


class TestOrdinaryTemplatesStillRender:
    @pytest.mark.parametrize(
        ("source", "expected"),
        [
            (
                "{% for i in range(3) %}{{ loop.index }}/{{ loop.length }} {% endfor %}",
                "1/3 2/3 3/3 ",
            ),
            (
                "{% for x in [[1, [2]]] recursive %}{{ x }};{% if x is iterable %}{{ loop(x) }}"
                "{% endif %}{% endfor %}",
                "[1, [2]];1;[2];2;",
            ),
            ("{% for x in [1, 2, 3] if x > 1 %}{{ x }}{% endfor %}", "23"),
            ("{{ 'a' ~ 'b' ~ 3 }}", "ab3"),
            ("{{ ['a', 'b'] | join(', ') }}", "a, b"),
            ("{{ ', '.join(['a', 'b']) }}", "a, b"),
            ("{{ 'a-b'.replace('-', ' et ') }}", "a et b"),
            ("{{ 2 ** 100 * 2 ** 100 > 0 }}", "True"),
        ],
    )
    def test_renders(self, source: str, expected: str) -> None:
        assert render(source) == expected

    def test_output_up_to_max_output_renders(self) -> None:
        assert len(render("{% for i in range(3200) %}0123456789{% endfor %}")) == MAX_OUTPUT


class TestErrorsOfTheAuthorsCode:
    @pytest.mark.parametrize(
        ("source", "message"),
        [
            ("{{ 1 / 0 }}", "template failed: ZeroDivisionError: division by zero"),
            ("{{ 'a' + 1 }}", "template failed: TypeError"),
            ("{{ 'x'.index('y') }}", "template failed: ValueError: substring not found"),
        ],
    )
    def test_python_errors_are_template_errors(self, source: str, message: str) -> None:
        with pytest.raises(TemplateRenderError, match=message):
            render(source)

    def test_expressions_too(self) -> None:
        with pytest.raises(TemplateRenderError, match="ZeroDivisionError"):
            Expression("1 // 0").evaluate({})
