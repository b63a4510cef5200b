"""Flow templates in the Jinja sandbox (FLOWS.md "Templates and context", libs.md §4)."""

from __future__ import annotations

from typing import Any

import pytest

from flows.templates import (
    MAX_OUTPUT,
    MAX_SEQUENCE,
    Expression,
    TemplateRenderError,
    TextTemplate,
    is_template,
    value_template,
)

CONTEXT: dict[str, Any] = {
    "contact": {"first_name": "Ana", "phone": "+33612345678"},
    "vars": {
        "n": 3,
        "price": 12.5,
        "flag": True,
        "nothing": None,
        "tags": ["a", "b"],
        "cart": {"items": ["pain", "lait"], "keys": "clé", "values": 2, "get": "g", "total": 7},
    },
    "input": {"text": "bonjour", "data": None, "location": None, "file": None},
    "channel": "sms",
    "env": {"SITE": "https://shop.example"},
}


def render(source: str, context: dict[str, Any] | None = None) -> str:
    return TextTemplate(source).render(CONTEXT if context is None else context)


class TestSandbox:
    """Escapes and resource exhaustion are refused with a message naming the cause."""

    @pytest.mark.parametrize(
        ("source", "message"),
        [
            ("{{ ''.__class__.__mro__ }}", "access to attribute '__class__'"),
            ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "access to attribute '__class__'"),
            ("{{ cycler.__init__.__globals__ }}", "access to attribute '__init__'"),
            ("{{ vars.cart.__class__ }}", "access to attribute '__class__'"),
        ],
    )
    def test_attribute_escapes_are_refused(self, source: str, message: str) -> None:
        with pytest.raises(TemplateRenderError, match="refused by the template sandbox") as error:
            render(source)
        assert message in str(error.value)
        assert "unsafe" in str(error.value)

    @pytest.mark.parametrize(
        ("source", "message"),
        [
            ("{{ 'x' * 10**8 }}", "repetition would build 100000000 items"),
            ("{{ ('x' * 10**8) | length }}", "repetition would build 100000000 items"),
            ("{{ 10**8 * 'x' }}", "repetition would build 100000000 items"),
            ("{{ [0] * 10**6 }}", "repetition would build 1000000 items"),
            ("{{ ('x' * 10000) * 10000 }}", "repetition would build 100000000 items"),
        ],
    )
    def test_huge_repetitions_are_refused(self, source: str, message: str) -> None:
        with pytest.raises(TemplateRenderError, match="refused by the template sandbox") as error:
            render(source)
        assert message in str(error.value)
        assert f"over the limit of {MAX_SEQUENCE}" in str(error.value)

    def test_repetition_up_to_the_limit_renders(self) -> None:
        assert render(f"{{{{ ('x' * {MAX_SEQUENCE}) | length }}}}") == str(MAX_SEQUENCE)

    @pytest.mark.parametrize(
        "source",
        [
            "{{ range(10**6) | length }}",
            "{% for i in range(10**6) %}{% endfor %}",
            "{{ range(0, 10**6, 1) | list | length }}",
        ],
    )
    def test_huge_ranges_are_refused(self, source: str) -> None:
        with pytest.raises(TemplateRenderError, match="refused by the template sandbox") as error:
            render(source)
        assert "over the limit" in str(error.value)

    def test_a_range_of_small_bounds_but_many_items_is_capped(self) -> None:
        # Each bound is under the argument limit: only the range itself can refuse it.
        with pytest.raises(TemplateRenderError, match="range of 16000 items is over the limit"):
            render("{{ range(-8000, 8000) | length }}")

    def test_small_range_renders(self) -> None:
        assert render("{% for i in range(3) %}{{ i }}{% endfor %}") == "012"

    @pytest.mark.parametrize(
        "source",
        [
            "{{ 'x' | center(10**6) }}",
            "{{ 'x'.center(10**6) }}",
            "{{ 'x'.ljust(1000000) }}",
            "{{ 'x' | indent(10**6, true) }}",
            "{{ 'x' | truncate(10**6) }}",
        ],
    )
    def test_huge_width_arguments_are_refused(self, source: str) -> None:
        with pytest.raises(
            TemplateRenderError, match="argument 1000000 is over the limit of 10000"
        ):
            render(source)

    @pytest.mark.parametrize(
        "source",
        [
            "{{ '%100000s' | format('x') }}",
            "{{ '%-100000d' | format(3) }}",
            "{{ '{:>100000}'.format('x') }}",
            "{{ '{0:100000}'.format(1) }}",
        ],
    )
    def test_huge_format_widths_are_refused(self, source: str) -> None:
        with pytest.raises(TemplateRenderError, match="format width over the limit"):
            render(source)

    def test_huge_width_through_the_percent_operator_is_refused(self) -> None:
        # `| length` keeps the output tiny: only the sandbox can stop the allocation.
        with pytest.raises(TemplateRenderError, match="refused by the template sandbox"):
            render("{{ ('%-99999d' % 3) | length }}")

    def test_format_with_a_small_width_renders(self) -> None:
        assert render("{{ '%5.1f' | format(vars.price) }}") == " 12.5"
        assert render("{{ '{:>4}'.format(vars.n) }}") == "   3"

    @pytest.mark.parametrize("source", ["{{ 2 ** 100000 }}", "{{ 10 ** 101 }}", "{{ 2 ** -1000 }}"])
    def test_huge_exponents_are_refused(self, source: str) -> None:
        with pytest.raises(TemplateRenderError, match="refused by the template sandbox") as error:
            render(source)
        assert "exponent" in str(error.value)
        assert "over the limit of 100" in str(error.value)

    def test_small_power_renders(self) -> None:
        assert render("{{ 2 ** 10 }}") == "1024"

    def test_output_over_max_output_through_a_loop_is_cut_off(self) -> None:
        source = "{% for i in range(5000) %}0123456789{% endfor %}"
        with pytest.raises(
            TemplateRenderError,
            match=f"template output is over the limit of {MAX_OUTPUT} characters",
        ):
            render(source)

    def test_output_up_to_max_output_renders(self) -> None:
        per_line = "0123456789"
        count = MAX_OUTPUT // len(per_line)
        source = f"{{% for i in range({count}) %}}{per_line}{{% endfor %}}"
        assert len(render(source)) == MAX_OUTPUT

    def test_expression_value_over_max_output_is_refused(self) -> None:
        context = {**CONTEXT, "vars": {"long": "x" * (MAX_OUTPUT + 1)}}
        with pytest.raises(TemplateRenderError, match="expression value is over the limit"):
            Expression("vars.long").evaluate(context)

    def test_a_concatenation_over_max_output_is_refused_when_built(self) -> None:
        expression = Expression("('x' * 10000) ~ ('x' * 10000) ~ ('x' * 10000) ~ ('x' * 10000)")
        with pytest.raises(TemplateRenderError, match="refused by the template sandbox") as error:
            expression.evaluate(CONTEXT)
        assert f"a string of 40000 characters is over the limit of {MAX_OUTPUT}" in str(error.value)

    def test_the_context_cannot_be_modified(self) -> None:
        context: dict[str, Any] = {"vars": {"tags": ["a"], "cart": {"total": 1}}}
        with pytest.raises(TemplateRenderError, match="refused by the template sandbox"):
            render("{{ vars.tags.append('b') }}", context)
        with pytest.raises(TemplateRenderError, match="refused by the template sandbox"):
            render("{{ vars.cart.update({'total': 2}) }}", context)
        assert context == {"vars": {"tags": ["a"], "cart": {"total": 1}}}


class TestDictionaries:
    """A dict's own keys win over its methods (libs.md §4 pitfall)."""

    @pytest.mark.parametrize(
        ("source", "expected"),
        [
            ("{{ vars.cart.items }}", "['pain', 'lait']"),
            ("{{ vars.cart.items | join(', ') }}", "pain, lait"),
            ("{{ vars.cart.keys }}", "clé"),
            ("{{ vars.cart.values }}", "2"),
            ("{{ vars.cart.get }}", "g"),
            ("{% for item in vars.cart.items %}[{{ item }}]{% endfor %}", "[pain][lait]"),
        ],
    )
    def test_stored_value_wins_over_the_method(self, source: str, expected: str) -> None:
        assert render(source) == expected

    def test_expression_gives_the_stored_value(self) -> None:
        assert Expression("vars.cart.items").evaluate(CONTEXT) == ["pain", "lait"]
        assert Expression("vars.cart.items | length").evaluate(CONTEXT) == 2

    def test_subscript_and_attribute_agree(self) -> None:
        assert render("{{ vars.cart['items'] == vars.cart.items }}") == "True"

    def test_methods_still_work_when_no_key_hides_them(self) -> None:
        context: dict[str, Any] = {"vars": {"prices": {"pain": 1}}}
        assert render("{{ vars.prices.keys() | list }}", context) == "['pain']"


class TestStrictUndefined:
    """Undefined names are errors, never empty strings (FLOWS.md "Templates and context")."""

    @pytest.mark.parametrize(
        ("source", "message"),
        [
            ("Bonjour {{ nobody }}", "'nobody' is undefined"),
            ("Bonjour {{ contact.nickname }}", "has no attribute 'nickname'"),
            ("{{ vars.missing }}", "has no attribute 'missing'"),
            ("{% if vars.missing %}x{% endif %}", "has no attribute 'missing'"),
            ("{{ vars.missing | default('x') | upper }}{{ vars.other }}", "'other'"),
            ("{{ vars.missing ~ '!' }}", "has no attribute 'missing'"),
            ("{% for x in vars.missing %}{% endfor %}", "has no attribute 'missing'"),
        ],
    )
    def test_text_templates_raise(self, source: str, message: str) -> None:
        with pytest.raises(TemplateRenderError) as error:
            render(source)
        assert message in str(error.value)

    @pytest.mark.parametrize(
        "source", ["vars.missing", "nobody", "vars.missing == 1", "vars.cart.nope.deeper"]
    )
    def test_expressions_raise(self, source: str) -> None:
        with pytest.raises(TemplateRenderError):
            Expression(source).evaluate(CONTEXT)

    def test_a_condition_on_an_undefined_name_raises_instead_of_being_false(self) -> None:
        with pytest.raises(TemplateRenderError, match="missing"):
            Expression("vars.missing").is_true(CONTEXT)

    def test_default_filter_handles_a_missing_value(self) -> None:
        assert render("{{ vars.missing | default('rien') }}") == "rien"

    def test_none_is_defined(self) -> None:
        assert render("{{ vars.nothing }}") == "None"
        assert Expression("vars.nothing is none").evaluate(CONTEXT) is True


class TestTextTemplate:
    def test_constant_text_is_returned_as_is(self) -> None:
        template = TextTemplate("Bonjour, 100 % garanti {pas un template}")
        assert template.is_constant
        assert template.render({}) == "Bonjour, 100 % garanti {pas un template}"

    def test_template_renders_context(self) -> None:
        template = TextTemplate("Bonjour {{ contact.first_name }} ({{ channel }})")
        assert not template.is_constant
        assert template.render(CONTEXT) == "Bonjour Ana (sms)"

    def test_text_templates_always_render_strings(self) -> None:
        assert TextTemplate("{{ vars.n + 1 }}").render(CONTEXT) == "4"

    @pytest.mark.parametrize(
        ("text", "expected"),
        [("{{ x }}", True), ("{% if x %}{% endif %}", True), ("{# note #}", True), ("{x}", False)],
    )
    def test_is_template(self, text: str, expected: bool) -> None:
        assert is_template(text) is expected


class TestValueTemplate:
    """`set:` values and `json:` bodies: native types for one `{{ expr }}`, text otherwise."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("{{ vars.n + 1 }}", 4),
            ("{{vars.n}}", 3),
            ("  {{ vars.n * 2 }}  ", 6),
            ("{{ vars.price }}", 12.5),
            ("{{ vars.flag }}", True),
            ("{{ vars.nothing }}", None),
            ("{{ vars.tags }}", ["a", "b"]),
            ("{{ vars.cart.items }}", ["pain", "lait"]),
            ("{{ vars.n > 2 }}", True),
            ("{{ contact.first_name }}", "Ana"),
        ],
    )
    def test_single_expression_keeps_its_native_type(self, value: str, expected: Any) -> None:
        result = value_template(value)(CONTEXT)
        assert result == expected
        assert type(result) is type(expected)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("n = {{ vars.n }}", "n = 3"),
            ("{{ vars.n }}{{ vars.n }}", "33"),
            ("{{ vars.n }} et {{ vars.price }}", "3 et 12.5"),
            ("{% if vars.flag %}oui{% endif %}", "oui"),
            ("{{ vars.n }}€", "3€"),
        ],
    )
    def test_other_templates_render_text(self, value: str, expected: str) -> None:
        assert value_template(value)(CONTEXT) == expected

    @pytest.mark.parametrize("value", ["plain text", 42, 1.5, True, None])
    def test_literals_are_kept(self, value: Any) -> None:
        assert value_template(value)(CONTEXT) == value

    def test_nested_lists_and_mappings_are_walked(self) -> None:
        make = value_template(
            {
                "count": "{{ vars.n }}",
                "label": "{{ vars.n }} articles",
                "fixed": 7,
                "lines": ["{{ vars.tags }}", "tag {{ vars.tags[0] }}", {"flag": "{{ vars.flag }}"}],
                "who": {"name": "{{ contact.first_name }}", "site": "{{ env.SITE }}/a"},
            }
        )
        assert make(CONTEXT) == {
            "count": 3,
            "label": "3 articles",
            "fixed": 7,
            "lines": [["a", "b"], "tag a", {"flag": True}],
            "who": {"name": "Ana", "site": "https://shop.example/a"},
        }

    def test_each_render_builds_new_containers(self) -> None:
        make = value_template({"list": ["{{ vars.n }}"]})
        first, second = make(CONTEXT), make(CONTEXT)
        assert first == second
        assert first is not second
        assert first["list"] is not second["list"]

    def test_undefined_name_in_a_value_raises(self) -> None:
        with pytest.raises(TemplateRenderError, match="missing"):
            value_template({"a": ["{{ vars.missing }}"]})(CONTEXT)

    def test_values_are_capped_like_text(self) -> None:
        with pytest.raises(TemplateRenderError, match="refused by the template sandbox"):
            value_template("{{ 'x' * 10**8 }}")(CONTEXT)
