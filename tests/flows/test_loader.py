"""YAML loading of flow files (libs.md §5): YAML 1.2 scalars, duplicates, positions."""

from __future__ import annotations

import math
import textwrap
from typing import Any

import pytest

from flows.loader import LineDict, LineList, dotted, key_position, load_yaml, walk
from flows.problems import Problem, Severity


def load(source: str) -> Any:
    """Load text that must parse without problems."""
    data, problems = load_yaml(textwrap.dedent(source), "flow.yaml")
    assert problems == []
    return data


def scalar(text: str) -> Any:
    return load(f"value: {text}\n")["value"]


class TestScalars:
    """Only the YAML 1.2 core schema: `on:`, `yes` and `10:30` stay strings."""

    def test_on_is_the_string_key_on(self) -> None:
        data = load(
            """\
            on:
              - keywords: [aide]
            off: 1
            """
        )
        assert list(data) == ["on", "off"]
        assert True not in data
        assert False not in data

    @pytest.mark.parametrize(
        "text", ["yes", "no", "on", "off", "Yes", "No", "YES", "ON", "Off", "y", "n", "Y", "N"]
    )
    def test_yaml_1_1_booleans_stay_strings(self, text: str) -> None:
        assert scalar(text) == text

    @pytest.mark.parametrize(
        ("text", "expected"),
        [("true", True), ("false", False), ("True", True), ("FALSE", False)],
    )
    def test_true_and_false_are_booleans(self, text: str, expected: bool) -> None:
        assert scalar(text) is expected

    @pytest.mark.parametrize("text", ["10:30", "1:02:03", "190:20:30"])
    def test_sexagesimal_numbers_stay_strings(self, text: str) -> None:
        assert scalar(text) == text

    @pytest.mark.parametrize("text", ["2026-12-12", "2026-12-12T10:30:00Z", "2026-12-12 10:30"])
    def test_dates_stay_strings(self, text: str) -> None:
        assert scalar(text) == text

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("12", 12),
            ("0", 0),
            ("-7", -7),
            ("+12", 12),
            ("017", 17),  # YAML 1.2: a leading zero is not octal
            ("0x1F", 31),
            ("0xff", 255),
            ("0o17", 15),
        ],
    )
    def test_integers(self, text: str, expected: int) -> None:
        value = scalar(text)
        assert value == expected
        assert type(value) is int

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("1.5", 1.5),
            ("-0.25", -0.25),
            (".5", 0.5),
            ("1e3", 1000.0),
            ("2.5E-2", 0.025),
            (".inf", math.inf),
            ("-.inf", -math.inf),
            ("+.Inf", math.inf),
        ],
    )
    def test_floats(self, text: str, expected: float) -> None:
        value = scalar(text)
        assert value == expected
        assert type(value) is float

    def test_nan(self) -> None:
        assert math.isnan(scalar(".nan"))

    @pytest.mark.parametrize("text", ["null", "Null", "NULL", "~", ""])
    def test_nulls(self, text: str) -> None:
        assert scalar(text) is None

    @pytest.mark.parametrize(
        "text", ["1_000", "0b101", "1,5", "12h", "06 12 34 56 78", "'12'", '"true"', "!!str 12"]
    )
    def test_other_scalars_are_strings(self, text: str) -> None:
        value = scalar(text)
        assert isinstance(value, str)

    def test_quoted_scalars_keep_their_text(self) -> None:
        data = load(
            """\
            a: 'yes'
            b: "10:30"
            c: '0x1F'
            d: !!str true
            """
        )
        assert data == {"a": "yes", "b": "10:30", "c": "0x1F", "d": "true"}

    def test_reply_labels_stay_text(self) -> None:
        data = load(
            """\
            suggestions:
              - reply: Yes
              - reply: No
              - reply: Off
            """
        )
        assert [s["reply"] for s in data["suggestions"]] == ["Yes", "No", "Off"]

    def test_a_phone_number_with_a_plus_is_an_int_unless_quoted(self) -> None:
        # Flows write phone numbers quoted (`dial: "+33491000000"`); unquoted they are numbers.
        assert scalar("+33491000000") == 33491000000
        assert scalar('"+33491000000"') == "+33491000000"


class TestDuplicateKeys:
    def test_reported_with_both_lines_and_last_value_kept(self) -> None:
        source = textwrap.dedent(
            """\
            flow: demo
            states:
              ask:
                say: first
              ask:
                say: again
            """
        )
        data, problems = load_yaml(source, "demo.yaml")
        assert data["states"] == {"ask": {"say": "again"}}
        assert problems == [
            Problem("demo.yaml", 5, 3, "duplicate key `ask` (first at line 3)", Severity.ERROR)
        ]
        assert str(problems[0]) == "demo.yaml:5:3: duplicate key `ask` (first at line 3)"

    def test_every_duplicate_is_reported(self) -> None:
        source = "a: 1\nb: 2\na: 3\nc:\n  x: 1\n  x: 2\n"
        data, problems = load_yaml(source, "f.yaml")
        assert data == {"a": 3, "b": 2, "c": {"x": 2}}
        assert [(p.line, p.column, p.message) for p in problems] == [
            (3, 1, "duplicate key `a` (first at line 1)"),
            (6, 3, "duplicate key `x` (first at line 5)"),
        ]

    def test_duplicate_in_a_flow_mapping(self) -> None:
        data, problems = load_yaml("a: {b: 1, b: 2}\n", "f.yaml")
        assert data == {"a": {"b": 2}}
        assert [(p.line, p.column) for p in problems] == [(1, 11)]

    def test_a_third_occurrence_names_the_first_line(self) -> None:
        _, problems = load_yaml("a: 1\na: 2\na: 3\n", "f.yaml")
        assert [p.message for p in problems] == [
            "duplicate key `a` (first at line 1)",
            "duplicate key `a` (first at line 1)",
        ]

    def test_a_key_that_is_not_a_plain_value_is_a_problem(self) -> None:
        data, problems = load_yaml("? [a, b]\n: 1\nc: 2\n", "f.yaml")
        assert data == {"c": 2}
        assert [(p.line, p.column, p.message) for p in problems] == [
            (1, 3, "a key must be a plain value")
        ]


class TestPositions:
    SOURCE = textwrap.dedent(
        """\
        flow: demo
        start: ask
        states:
          ask:
            say:   "Bonjour"
            on:
              - data: confirm
                goto: done
              -   {data: cancel, goto: done}
          done: {say: Merci, end: true}
        """
    )

    def test_mapping_keys_and_values(self) -> None:
        data = load(self.SOURCE)
        assert isinstance(data, LineDict)
        assert data.start == (1, 1)
        assert data.key_pos["start"] == (2, 1)
        assert data.pos["start"] == (2, 8)
        ask = data["states"]["ask"]
        assert isinstance(ask, LineDict)
        assert ask.start == (5, 5)
        assert ask.key_pos["say"] == (5, 5)
        assert ask.pos["say"] == (5, 12)  # the opening quote
        assert data["states"].key_pos["done"] == (10, 3)
        assert data["states"].pos["done"] == (10, 9)
        done = data["states"]["done"]
        assert done.key_pos == {"say": (10, 10), "end": (10, 22)}
        assert done.pos == {"say": (10, 15), "end": (10, 27)}

    def test_block_mapping_value_starts_at_its_first_key(self) -> None:
        data = load(self.SOURCE)
        assert data.pos["states"] == (4, 3)
        assert data["states"].start == (4, 3)

    def test_sequences(self) -> None:
        data = load(self.SOURCE)
        on = data["states"]["ask"]["on"]
        assert isinstance(on, LineList)
        assert on.start == (7, 7)
        assert on.pos == [(7, 9), (9, 11)]
        assert on[0].pos["goto"] == (8, 15)
        assert on[1].pos == {"data": (9, 18), "goto": (9, 32)}

    def test_flow_sequence_items(self) -> None:
        data = load("keywords: [aide,  help, menu]\n")
        assert data["keywords"] == ["aide", "help", "menu"]
        assert data["keywords"].pos == [(1, 12), (1, 19), (1, 25)]

    def test_containers_are_plain_dicts_and_lists_for_comparisons(self) -> None:
        data = load(self.SOURCE)
        assert isinstance(data, dict)
        assert isinstance(data["states"]["ask"]["on"], list)
        assert data["states"]["done"] == {"say": "Merci", "end": True}


class TestSyntaxErrors:
    @pytest.mark.parametrize(
        ("source", "line", "column", "message"),
        [
            ("a: [1, 2\nb: 3\n", 2, 2, "did not find expected ',' or ']'"),
            ("a: {b: 1\n", 2, 1, "did not find expected ',' or '}'"),
            ("a:\n  b: 1\n c: 2\n", 3, 2, "did not find expected key"),
            ("a: 'unclosed\n", 2, 1, "found unexpected end of stream"),
            ("a: b: c\n", 1, 5, "mapping values are not allowed in this context"),
        ],
    )
    def test_one_problem_with_line_and_column(
        self, source: str, line: int, column: int, message: str
    ) -> None:
        data, problems = load_yaml(source, "bad.yaml")
        assert data is None
        assert len(problems) == 1
        problem = problems[0]
        assert (problem.path, problem.line, problem.column) == ("bad.yaml", line, column)
        assert problem.message == f"YAML syntax error: {message}"
        assert problem.severity is Severity.ERROR
        assert str(problem).startswith(f"bad.yaml:{line}:{column}: YAML syntax error")

    def test_an_empty_file_gives_no_data_and_no_problem(self) -> None:
        assert load_yaml("", "empty.yaml") == (None, [])
        assert load_yaml("# only a comment\n", "empty.yaml") == (None, [])

    def test_several_documents_are_one_problem(self) -> None:
        data, problems = load_yaml("a: 1\n---\nb: 2\n", "two.yaml")
        assert data is None
        assert len(problems) == 1
        assert problems[0].path == "two.yaml"


class TestWalkAndDotted:
    SOURCE = textwrap.dedent(
        """\
        flow: demo
        states:
          ask:
            on:
              - data: confirm
                goto: nowhere
        """
    )

    def test_walk_follows_keys_and_indexes(self) -> None:
        raw = load(self.SOURCE)
        position, found, node = walk(raw, ("states", "ask", "on", 0, "goto"))
        assert position == (6, 15)
        assert found == ["states", "ask", "on", 0, "goto"]
        assert node == "nowhere"

    def test_walk_skips_parts_that_are_not_in_the_tree(self) -> None:
        raw = load(self.SOURCE)
        # pydantic adds union tags such as "text content" to its error locations.
        position, found, node = walk(raw, ("states", "ask", "State", "on", 0, "tag", "data"))
        assert position == (5, 15)
        assert found == ["states", "ask", "on", 0, "data"]
        assert node == "confirm"

    def test_walk_stops_at_the_deepest_position_found(self) -> None:
        raw = load(self.SOURCE)
        position, found, _ = walk(raw, ("states", "ask", "on", 7, "goto"))
        assert position == (5, 7)  # where the `on` sequence starts
        assert found == ["states", "ask", "on"]

    def test_walk_of_an_empty_path_is_the_root(self) -> None:
        raw = load(self.SOURCE)
        position, found, node = walk(raw, ())
        assert (position, found, node) == ((1, 1), [], raw)

    def test_key_position(self) -> None:
        raw = load(self.SOURCE)
        assert key_position(raw, ("states", "ask", "on", 0, "goto")) == (6, 9)
        assert key_position(raw, ("states", "ask", "on", 0, "missing")) == (5, 9)

    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            (["states", "ask", "on", 0, "goto"], "states.ask.on[0].goto"),
            (("on", 1), "on[1]"),
            (["states"], "states"),
            ([], ""),
            ([0, "a"], "[0].a"),
            (["goto", 0, 1, "to"], "goto[0][1].to"),
        ],
    )
    def test_dotted(self, path: list[str | int] | tuple[str | int, ...], expected: str) -> None:
        assert dotted(path) == expected
