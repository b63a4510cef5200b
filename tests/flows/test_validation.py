"""`causette validate`: every problem of a flow file at its `path:line:column` (FLOWS.md).

Each test feeds a small flow to `flows.validation.check_text`, the public entry, and compares
the exact lines a user would read: the position of the offending YAML node, the dotted path,
what is wrong and how to fix it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from flows.loader import LineDict, load_yaml
from flows.problems import Severity
from flows.validation import check_text

FIXTURES = Path(__file__).parent / "fixtures"
PATH = "flow.yaml"


def problems(source: str) -> list[str]:
    """Every problem of an inline flow (dedented), as `causette validate` prints them."""
    _, found = check_text(textwrap.dedent(source), PATH)
    return [str(problem) for problem in found]


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


class TestWholeFiles:
    def test_the_flows_md_example_has_no_problem_once_new_date_is_declared(self) -> None:
        flow, found = check_text(fixture("appointment.yaml"), "appointment.yaml")
        assert found == []
        assert flow is not None
        assert list(flow.states) == [
            "ask", "move", "check", "moved", "confirmed", "cancelled", "reminder", "human",
        ]  # fmt: skip

    def test_the_flows_md_example_as_printed_forgets_to_declare_new_date(self) -> None:
        declared = "  new_date: null                # FLOWS.md forgets to declare it\n"
        source = fixture("appointment.yaml")
        assert declared in source
        flow, found = check_text(source.replace(declared, ""), "appointment.yaml")
        assert flow is None
        assert [str(p) for p in found] == [
            "appointment.yaml:40:12: states.move.ask.var: variable 'new_date' is not declared "
            "(did you mean 'date'?): add `new_date: null` under `vars`",
            "appointment.yaml:52:20: states.check.call.json.date: unknown variable "
            "'vars.new_date' (did you mean 'date'?): declare 'new_date' under `vars`",
        ]

    def test_five_different_mistakes_give_five_errors_at_their_places(self) -> None:
        flow, found = check_text(fixture("five_mistakes.yaml"), "five.yaml")
        assert flow is None
        assert all(p.severity is Severity.ERROR for p in found)
        assert [str(p) for p in found] == [
            "five.yaml:9:10: states.greet.say: unknown name 'contcat' (did you mean "
            "'contact'?): templates can use bot, channel, contact, env, input, now, vars",
            "five.yaml:12:15: states.greet.on[0].goto: unknown state 'chnage' "
            "(did you mean 'change'?)",
            "five.yaml:13:15: states.greet.on[1].text: bad regular expression: missing ), "
            "unterminated subpattern at position 6 (Python `re` syntax)",
            "five.yaml:17:7: states.change.set.attempts: variable 'attempts' is not declared: "
            "add `attempts: null` under `vars`",
            "five.yaml:20:16: states.change.call.timeout: bad duration '5 sec': write a number "
            "and a unit s, m, h or d (30s, 10m, 2h, 1d, 1h30m)",
        ]


class TestYaml:
    """YAML 1.2 scalars: a label `Yes` and data `no` stay strings, `on:` is a key."""

    def test_yes_no_and_on_stay_strings(self) -> None:
        source = textwrap.dedent(
            """\
            on:
              - keywords: [yes, no, off]
                say:
                  text: Confirmez-vous ?
                  suggestions:
                    - reply: Yes
                      data: no
                    - reply: On
            """
        )
        data, found = load_yaml(source, PATH)
        assert found == []
        assert isinstance(data, LineDict)
        assert list(data) == ["on"]
        transition = data["on"][0]
        assert transition["keywords"] == ["yes", "no", "off"]
        suggestions = transition["say"]["suggestions"]
        assert suggestions[0] == {"reply": "Yes", "data": "no"}
        assert suggestions[1] == {"reply": "On"}
        assert all(isinstance(v, str) for s in suggestions for v in s.values())

    def test_a_flow_with_yes_labels_validates(self) -> None:
        assert (
            problems(
                """\
                flow: yes
                start: ask
                states:
                  ask:
                    say:
                      text: Oui ?
                      suggestions: [{reply: Yes, data: no}, {reply: No, data: yes}]
                    on:
                      - data: yes
                        goto: done
                  done: {end: true}
                """
            )
            == []
        )

    def test_duplicate_keys_name_both_lines(self) -> None:
        assert problems(
            """\
            flow: dup
            start: a
            states:
              a:
                say: Bonjour
                end: true
                say: Re-bonjour
            start: a
            """
        ) == [
            "flow.yaml:7:5: duplicate key `say` (first at line 5)",
            "flow.yaml:8:1: duplicate key `start` (first at line 2)",
        ]

    def test_a_syntax_error_is_one_problem(self) -> None:
        assert problems("flow: x\nstates: {a: [}\n") == [
            "flow.yaml:2:14: YAML syntax error: did not find expected node content"
        ]


class TestUnknownStates:
    def test_every_kind_of_target_is_checked(self) -> None:
        assert problems(
            """\
            flow: t
            start: strat
            vars: {x: null}
            on:
              - keywords: [aide]
                goto: hepl
            states:
              start:
                call: {url: "https://x.example", save: x, on_error: eror}
                goto:
                  - if: vars.x
                    to: ned
                  - to: help
              ask:
                ask: {var: x, on_fail: hlep}
                goto: ends
              wait:
                on:
                  - data: go
                    goto: aks
                otherwise: {goto: wiat}
              help: {goto: wait}
              end: {end: true}
            """
        ) == [
            "flow.yaml:2:8: start: unknown state 'strat' (did you mean 'start'?)",
            "flow.yaml:6:11: on[0].goto: unknown state 'hepl' (did you mean 'help'?)",
            "flow.yaml:9:57: states.start.call.on_error: unknown state 'eror'; the states are "
            "start, ask, wait, help, end",
            "flow.yaml:12:13: states.start.goto[0].to: unknown state 'ned' (did you mean 'end'?)",
            "flow.yaml:15:28: states.ask.ask.on_fail: unknown state 'hlep' (did you mean 'help'?)",
            "flow.yaml:16:11: states.ask.goto: unknown state 'ends' (did you mean 'end'?)",
            "flow.yaml:20:15: states.wait.on[0].goto: unknown state 'aks' (did you mean 'ask'?)",
            "flow.yaml:21:23: states.wait.otherwise.goto: unknown state 'wiat' "
            "(did you mean 'wait'?)",
        ]

    def test_without_a_close_name_the_states_are_listed(self) -> None:
        assert problems(
            """\
            flow: t
            start: a
            states:
              a: {goto: zzz}
              b: {end: true}
            """
        ) == [
            "flow.yaml:4:13: states.a.goto: unknown state 'zzz'; the states are a, b",
            "flow.yaml:5:3: states.b: state 'b' is unreachable from start 'a': no goto, on, "
            "otherwise, on_fail or on_error of a reachable state leads to it; link or remove it",
        ]


class TestReachability:
    def test_unreachable_states_are_reported_at_their_key(self) -> None:
        assert problems(
            """\
            flow: t
            start: a
            states:
              a:
                say: Bonjour
                on:
                  - after: 1h
                    goto: b
              b: {end: true}
              orphan: {goto: also_orphan}
              also_orphan: {end: true}
            """
        ) == [
            "flow.yaml:10:3: states.orphan: state 'orphan' is unreachable from start 'a': "
            "no goto, on, otherwise, on_fail or on_error of a reachable state leads to it; "
            "link or remove it",
            "flow.yaml:11:3: states.also_orphan: state 'also_orphan' is unreachable from start "
            "'a': no goto, on, otherwise, on_fail or on_error of a reachable state leads to it; "
            "link or remove it",
        ]

    def test_a_misspelt_target_is_one_mistake_not_two(self) -> None:
        assert problems(
            """\
            flow: t
            start: a
            states:
              a: {say: Bonjour, goto: dnoe}
              done: {end: true}
            """
        ) == ["flow.yaml:4:27: states.a.goto: unknown state 'dnoe' (did you mean 'done'?)"]

    def test_a_global_transition_reaches_its_target_from_anywhere(self) -> None:
        assert (
            problems(
                """\
                flow: t
                start: a
                on:
                  - keywords: [aide]
                    goto: help
                states:
                  a: {say: Bonjour, end: true}
                  help: {handoff: {queue: support}}
                """
            )
            == []
        )


class TestVariables:
    def test_set_ask_and_call_need_declared_variables(self) -> None:
        assert problems(
            """\
            flow: t
            start: a
            vars: {count: 0, answer: null}
            on:
              - keywords: [stop]
                set: {stopped: true}
            states:
              a:
                set: {cuont: 1}
                call: {url: "https://x.example", save: reply}
                ask: {var: anwser}
                goto: b
              b:
                on:
                  - data: x
                    set: {answer: 1, other: 2}
                    goto: a
                otherwise:
                  set: {last: 1}
            """
        ) == [
            "flow.yaml:6:11: on[0].set.stopped: variable 'stopped' is not declared: "
            "add `stopped: null` under `vars`",
            "flow.yaml:9:11: states.a.set.cuont: variable 'cuont' is not declared "
            "(did you mean 'count'?): add `cuont: null` under `vars`",
            "flow.yaml:10:44: states.a.call.save: variable 'reply' is not declared: "
            "add `reply: null` under `vars`",
            "flow.yaml:11:16: states.a.ask.var: variable 'anwser' is not declared "
            "(did you mean 'answer'?): add `anwser: null` under `vars`",
            "flow.yaml:16:26: states.b.on[0].set.other: variable 'other' is not declared: "
            "add `other: null` under `vars`",
            "flow.yaml:19:13: states.b.otherwise.set.last: variable 'last' is not declared: "
            "add `last: null` under `vars`",
        ]


class TestTemplates:
    def test_syntax_errors_in_every_place_a_template_is_compiled(self) -> None:
        assert problems(
            """\
            flow: t
            start: a
            vars: {n: 0}
            on:
              - if: "vars.n >"
                say: "{{ vars.n }"
            states:
              a:
                set: {n: "{{ vars.n + }}"}
                call:
                  url: "https://x.example/{{ env.URL"
                  headers: {X-Key: "{% if %}"}
                  json: {deep: ["{{ 1 + }}"]}
                say: "{{ vars.n | upperr }}"
                goto:
                  - if: "vars.n ==="
                    to: a
                on:
                  - data: x
            """
        ) == [
            "flow.yaml:5:9: on[0].if: template syntax error: unexpected 'end of template'",
            "flow.yaml:6:10: on[0].say: template syntax error: unexpected '}'",
            "flow.yaml:9:14: states.a.set.n: template syntax error: unexpected 'end of template'",
            "flow.yaml:11:12: states.a.call.url: template syntax error: unexpected end of "
            "template, expected 'end of print statement'.",
            "flow.yaml:12:24: states.a.call.headers.X-Key: template syntax error: Expected an "
            "expression, got 'end of statement block'",
            "flow.yaml:13:21: states.a.call.json.deep[0]: template syntax error: unexpected "
            "'end of template'",
            "flow.yaml:14:10: states.a.say: template syntax error: No filter named 'upperr'. "
            "(did you mean 'upper'?)",
            "flow.yaml:16:13: states.a.goto[0].if: template syntax error: unexpected '='",
            "flow.yaml:17:13: warning: states.a.goto[0].to: state a -> a may loop without "
            "waiting for input when its conditions allow it; at run time a turn stops with an "
            "error after 100 moves",
        ]

    def test_an_error_on_a_later_line_of_a_block_points_at_that_line(self) -> None:
        assert problems(
            """\
            flow: t
            start: a
            states:
              a:
                say:
                  - |
                    Bonjour,
                      votre commande {{ contact.order
                    est prête.
                  - text: |
                      Ligne une
                      {% for x in [1] %}{{ x }}
                end: true
            """
        ) == [
            "flow.yaml:9:9: states.a.say[0]: template syntax error: expected token 'end of print "
            "statement', got 'est' (line 3 of the template)",
            "flow.yaml:12:11: states.a.say[1].text: template syntax error: Unexpected end of "
            "template. Jinja was looking for the following tags: 'endfor' or 'else'. The "
            "innermost block that needs to be closed is 'for'. (line 2 of the template)",
        ]

    def test_names_outside_the_context_and_undeclared_variables(self) -> None:
        assert problems(
            """\
            flow: t
            start: a
            vars: {date: null, slot: {}}
            states:
              a:
                say:
                  - "{{ contcat.first_name }} {{ user }}"
                  - "{{ vars.dte }} {{ vars['slto'] }} {{ vars.date }} {{ vars.dte }}"
                  - "{{ input.txt }} {{ input.text }} {{ channel }} {{ now }} {{ bot }}"
                  - |
                    {% set total = 3 %}{{ total }}
                    {% for item in vars.slot %}{{ item }} {{ loop.index }}{% endfor %}
                    {{ vars.get('slot') }} {{ range(2) | list }} {{ env.X }}
                    {{ vars.missing }}
                end: true
            """
        ) == [
            "flow.yaml:7:9: states.a.say[0]: unknown name 'contcat' (did you mean 'contact'?): "
            "templates can use bot, channel, contact, env, input, now, vars",
            "flow.yaml:7:9: states.a.say[0]: unknown name 'user': "
            "templates can use bot, channel, contact, env, input, now, vars",
            "flow.yaml:8:9: states.a.say[1]: unknown variable 'vars.dte' "
            "(did you mean 'date'?): declare 'dte' under `vars`",
            "flow.yaml:8:9: states.a.say[1]: unknown variable 'vars.slto' "
            "(did you mean 'slot'?): declare 'slto' under `vars`",
            "flow.yaml:9:9: states.a.say[2]: unknown field 'input.txt' (did you mean "
            "'text'?): input has data, file, location, text",
            "flow.yaml:14:9: states.a.say[3]: unknown variable 'vars.missing': "
            "declare 'missing' under `vars` (line 4 of the template)",
        ]

    def test_conditions_are_checked_for_names_too(self) -> None:
        assert problems(
            """\
            flow: t
            start: a
            vars: {n: 0}
            states:
              a:
                on:
                  - if: vars.m > 1 and inupt.text
                    goto: a
            """
        ) == [
            "flow.yaml:7:13: states.a.on[0].if: unknown name 'inupt' (did you mean 'input'?): "
            "templates can use bot, channel, contact, env, input, now, vars",
            "flow.yaml:7:13: states.a.on[0].if: unknown variable 'vars.m': "
            "declare 'm' under `vars`",
        ]


class TestRegularExpressions:
    def test_transition_text_and_ask_pattern(self) -> None:
        assert problems(
            r"""
            flow: t
            start: a
            vars: {code: null}
            on:
              - text: '[a-'
            states:
              a:
                ask: {var: code, type: regex, pattern: '\d{2,1}'}
                goto: b
                on:
                  - text: '(?i)\b(ok|oui)\b'
                    goto: b
              b: {end: true}
            """
        ) == [
            "flow.yaml:6:11: on[0].text: bad regular expression: unterminated character set "
            "at position 0 (Python `re` syntax)",
            "flow.yaml:9:44: states.a.ask.pattern: bad regular expression: min repeat greater "
            "than max repeat at position 3 (Python `re` syntax)",
        ]


class TestSchemaProblems:
    """Durations and RBM limits are the schema's; they still arrive with their positions."""

    def test_bad_durations(self) -> None:
        assert problems(
            """\
            flow: t
            start: a
            states:
              a:
                call: {url: "https://x.example", timeout: 0s}
                on:
                  - after: 2 hours
                    goto: a
            """
        ) == [
            "flow.yaml:5:47: states.a.call.timeout: bad duration '0s': it must be longer than zero",
            "flow.yaml:7:16: states.a.on[0].after: bad duration '2 hours': write a number and "
            "a unit s, m, h or d (30s, 10m, 2h, 1d, 1h30m)",
        ]

    def test_rbm_limits_apply_to_constant_strings_only(self) -> None:
        long_title = "T" * 201
        templated = "{{ vars.x }}" + "y" * 250
        assert problems(
            f"""\
            flow: t
            start: a
            vars: {{x: null}}
            states:
              a:
                say:
                  - card: {{title: {long_title}}}
                  - card: {{title: "{templated}"}}
                  - text: Choisissez
                    suggestions: [{{reply: Une étiquette bien trop longue}}]
                end: true
            """
        ) == [
            "flow.yaml:7:23: states.a.say[0].card.title: card title is 201 characters long; "
            "RBM allows at most 200",
            "flow.yaml:10:31: states.a.say[2].suggestions[0].reply: label is 30 characters "
            "long; RBM allows at most 25",
        ]

    def test_a_missing_start_is_reported(self) -> None:
        assert problems(
            """\
            flow: t
            states:
              a: {end: true}
            """
        ) == ["flow.yaml:1:1: missing `start`"]


class TestGotoLoops:
    def test_a_loop_of_plain_gotos_is_an_error_reported_once(self) -> None:
        assert problems(
            """\
            flow: t
            start: a
            vars: {n: 0}
            states:
              a: {say: Un, goto: b}
              b: {set: {n: "{{ vars.n + 1 }}"}, goto: c}
              c:
                goto:
                  - to: a
              self: {goto: self}
            """
        ) == [
            "flow.yaml:5:22: states.a.goto: states a -> b -> c -> a loop forever without "
            "waiting for input: make one of them wait (an ask, or an if on a goto), end or "
            "hand off",
            "flow.yaml:10:3: states.self: state 'self' is unreachable from start 'a': no goto, "
            "on, otherwise, on_fail or on_error of a reachable state leads to it; "
            "link or remove it",
            "flow.yaml:10:16: states.self.goto: state self -> self loops forever without "
            "waiting for input: make it wait (an ask, or an if on a goto), end or hand off",
        ]

    def test_a_loop_through_conditions_or_call_errors_is_a_warning(self) -> None:
        assert problems(
            """\
            flow: t
            start: count
            vars: {n: 0}
            states:
              count:
                set: {n: "{{ vars.n + 1 }}"}
                goto:
                  - if: vars.n < 3
                    to: count
                  - to: fetch
              fetch:
                call: {url: "https://x.example", on_error: fetch}
                goto: done
              done: {end: true}
            """
        ) == [
            "flow.yaml:9:13: warning: states.count.goto[0].to: state count -> count may loop "
            "without waiting for input when its conditions allow it; at run time a turn stops "
            "with an error after 100 moves",
            "flow.yaml:12:48: warning: states.fetch.call.on_error: state fetch -> fetch may "
            "loop without waiting for input when its conditions allow it; at run time a turn "
            "stops with an error after 100 moves",
        ]

    def test_a_loop_through_a_state_that_waits_is_fine(self) -> None:
        assert (
            problems(
                """\
                flow: t
                start: menu
                vars: {choice: null}
                states:
                  menu:
                    ask: {var: choice, type: yes_no}
                    goto: again
                  again: {say: Encore, goto: menu}
                """
            )
            == []
        )


class TestDeadEnds:
    def test_a_state_without_a_way_out(self) -> None:
        assert problems(
            """\
            flow: t
            start: a
            states:
              a:
                say: Bonjour
                on:
                  - data: x
                    say: Rien
                  - after: 1h
                    say: Toujours là ?
            """
        ) == [
            "flow.yaml:4:3: states.a: state 'a' can never leave: add goto, on, end: true or handoff"
        ]

    def test_a_global_goto_is_a_way_out_of_every_state(self) -> None:
        assert (
            problems(
                """\
                flow: t
                start: a
                on:
                  - keywords: [fin]
                    goto: bye
                states:
                  a: {say: Bonjour}
                  bye: {end: true}
                """
            )
            == []
        )


class TestStructure:
    def test_end_and_handoff_conflicts(self) -> None:
        assert problems(
            """\
            flow: t
            start: a
            vars: {x: null}
            states:
              a:
                end: true
                goto: b
              b:
                ask: {var: x}
                goto: a
                handoff: {queue: support}
                end: true
            """
        ) == [
            "flow.yaml:7:5: states.a.goto: state 'a' has end: true, so it cannot also have "
            "goto: remove one",
            "flow.yaml:9:5: states.b.ask: state 'b' has end: true, so it cannot also have "
            "ask: remove one",
            "flow.yaml:10:5: states.b.goto: state 'b' has end: true, so it cannot also have "
            "goto: remove one",
            "flow.yaml:11:5: states.b.handoff: state 'b' has end: true, so it cannot also have "
            "handoff: remove one",
        ]

    def test_ask_rules(self) -> None:
        assert problems(
            """\
            flow: t
            start: a
            vars: {x: null}
            states:
              a:
                ask: {var: x, type: choice}
                on:
                  - data: stop
                    goto: b
              b:
                ask:
                  var: x
                  type: regex
                  choices: [Oui, Non]
                  min: 1
                  max_attempts: 2
                goto: c
              c:
                ask: {var: x, type: integer, min: 10, max: 1}
                goto: a
            """
        ) == [
            "flow.yaml:6:5: states.a.ask: an ask needs a goto to continue after a valid answer",
            "flow.yaml:6:25: states.a.ask.type: an ask of type choice needs `choices`",
            "flow.yaml:13:13: states.b.ask.type: an ask of type regex needs a `pattern`",
            "flow.yaml:14:7: warning: states.b.ask.choices: ignored: an ask of type regex does "
            "not use choices (only choice do)",
            "flow.yaml:15:7: warning: states.b.ask.min: ignored: an ask of type regex does not "
            "use min (only integer or number do)",
            "flow.yaml:16:7: warning: states.b.ask.max_attempts: max_attempts does nothing "
            "without on_fail: the question is asked forever",
            "flow.yaml:19:39: states.c.ask.min: min 10 is above max 1: no answer can be valid",
        ]

    def test_too_many_choices_for_the_prompt_chips(self) -> None:
        choices = ", ".join(f"C{i}" for i in range(12))
        assert problems(
            f"""\
            flow: t
            start: a
            vars: {{x: null}}
            states:
              a:
                ask: {{var: x, type: choice, prompt: Laquelle ?, choices: [{choices}]}}
                goto: b
              b: {{end: true}}
            """
        ) == [
            "flow.yaml:6:53: states.a.ask.choices: 12 choices, but the prompt shows them as "
            "chips and RBM allows at most 11: keep 11 or give the prompt its own suggestions"
        ]

    def test_timers_and_input_do_not_mix(self) -> None:
        assert problems(
            """\
            flow: t
            start: a
            on:
              - after: 1h
                goto: a
            states:
              a:
                on:
                  - after: 10m
                    keywords: [oui]
                    file: true
                    goto: a
                  - after: 1d
                    if: channel == 'sms'
                    goto: a
            """
        ) == [
            "flow.yaml:4:5: on[0].after: a global transition reacts to input only: move this "
            "after into a state's on",
            "flow.yaml:10:9: states.a.on[0].keywords: a transition with after is a timer, it "
            "cannot also match keywords: split it into two transitions",
            "flow.yaml:11:9: states.a.on[0].file: a transition with after is a timer, it "
            "cannot also match file: split it into two transitions",
        ]

    def test_what_a_catch_all_transition_hides(self) -> None:
        assert problems(
            """\
            flow: t
            start: a
            vars: {x: null}
            on:
              - say: Je n'ai pas compris.
              - keywords: [aide]
                say: Aide
            states:
              a:
                on:
                  - data: oui
                    goto: b
                  - say: Répondez oui.
                  - data: non
                    goto: b
                  - after: 1h
                    goto: b
                otherwise: {say: Hein ?}
              b:
                ask: {var: x}
                goto: a
                on:
                  - goto: a
            """
        ) == [
            "flow.yaml:5:5: warning: on[0]: a global transition without condition matches any "
            "input a state's own on leaves: asks never get an answer and otherwise is never "
            "used; add a condition",
            "flow.yaml:6:5: warning: on[1]: never reached: on[0] before it matches any input",
            "flow.yaml:14:9: warning: states.a.on[2]: never reached: on[1] before it matches "
            "any input",
            "flow.yaml:18:5: warning: states.a.otherwise: never used: on[1] matches any input",
            "flow.yaml:23:9: warning: states.b.on[0]: matches any input, so the ask never gets "
            "an answer; add a condition",
        ]

    def test_otherwise_beside_an_ask_and_input_of_states_that_never_wait(self) -> None:
        assert problems(
            """\
            flow: t
            start: a
            vars: {x: null}
            states:
              a:
                ask: {var: x}
                goto: b
                otherwise: {say: Hein ?}
              b:
                goto: c
                on:
                  - data: x
                    goto: a
              c:
                end: true
                otherwise: {goto: a}
              d:
                handoff: {queue: support}
                on:
                  - data: x
                    goto: a
            """
        ) == [
            "flow.yaml:8:5: warning: states.a.otherwise: never used: state 'a' has an ask, so "
            "input that no transition matches is read as the answer (use ask.retry for invalid "
            "answers)",
            "flow.yaml:11:5: warning: states.b.on: never used: state 'b' moves on at once "
            "(goto), so it never waits for input",
            "flow.yaml:16:5: warning: states.c.otherwise: never used: state 'c' ends the "
            "conversation, so it never waits for input",
            "flow.yaml:17:3: states.d: state 'd' is unreachable from start 'a': no goto, on, "
            "otherwise, on_fail or on_error of a reachable state leads to it; link or remove it",
            "flow.yaml:19:5: warning: states.d.on: never used: state 'd' hands off to a person, "
            "so it never waits for input",
        ]

    def test_goto_entries_after_one_without_if(self) -> None:
        assert problems(
            """\
            flow: t
            start: a
            vars: {n: 0}
            states:
              a:
                goto:
                  - if: vars.n > 1
                    to: b
                  - to: c
                  - if: vars.n > 2
                    to: b
              b: {end: true}
              c: {end: true}
            """
        ) == [
            "flow.yaml:10:9: warning: states.a.goto[2]: never reached: goto[1] before it has "
            "no `if`, so it always matches"
        ]


class TestReplyData:
    def test_duplicate_choice_data_in_an_ask(self) -> None:
        assert problems(
            """\
            flow: t
            start: a
            vars: {x: null}
            states:
              a:
                ask:
                  var: x
                  type: choice
                  choices:
                    - Oui
                    - {reply: Bien sûr, data: oui}
                    - Non
                    - non
                goto: b
              b: {end: true}
            """
        ) == [
            "flow.yaml:11:35: states.a.ask.choices[1].data: duplicate choice data 'oui' (same "
            "as choices[0]): the answer could not tell them apart; give each choice its own data",
            "flow.yaml:13:11: states.a.ask.choices[3]: duplicate choice data 'non' (same as "
            "choices[2]): the answer could not tell them apart; give each choice its own data",
        ]

    def test_duplicate_chip_data_in_a_content_is_the_schemas(self) -> None:
        assert problems(
            """\
            flow: t
            start: a
            states:
              a:
                say:
                  text: Alors ?
                  suggestions:
                    - {reply: Oui, data: yes}
                    - {reply: Bien sûr, data: yes}
                end: true
            """
        ) == ["flow.yaml:6:7: states.a.say: two suggestions have the same data 'yes'"]


def sms_flow(text: str, traffic: str = "transactional") -> str:
    return f"""\
        flow: t
        traffic: {traffic}
        start: a
        vars: {{x: null}}
        states:
          a:
            say: "{text}"
            end: true
        """


class TestSmsSegments:
    """Three GSM-7 segments hold 3 × 153 = 459 characters; FLOWS.md warns above three."""

    def test_three_segments_pass(self) -> None:
        assert problems(sms_flow("a" * 459)) == []

    def test_four_segments_warn(self) -> None:
        assert problems(sms_flow("a" * 460)) == [
            "flow.yaml:7:10: warning: states.a.say: this message takes 4 SMS segments (GSM-7, "
            "460 characters); FLOWS.md warns above 3: shorten it or give it a shorter `sms:` text"
        ]

    def test_the_stop_mention_of_marketing_counts(self) -> None:
        found = problems(sms_flow("a" * 449, traffic="marketing"))
        assert found == [
            "flow.yaml:7:10: warning: states.a.say: this message takes 4 SMS segments (GSM-7, "
            "460 characters); FLOWS.md warns above 3: shorten it or give it a shorter `sms:` text"
        ]

    def test_ucs2_names_the_characters_that_force_it(self) -> None:
        assert problems(sms_flow("Déjà vu… " * 25)) == [
            "flow.yaml:7:10: warning: states.a.say: this message takes 4 SMS segments (UCS-2, "
            "224 characters); FLOWS.md warns above 3: shorten it or give it a shorter `sms:` "
            "text; these switch it to UCS-2, 67 characters a segment, not 153: …"
        ]

    def test_a_templated_message_cannot_be_measured(self) -> None:
        assert problems(sms_flow("{{ vars.x }}" + "a" * 600)) == []

    def test_the_sms_text_is_what_counts_and_choices_are_rendered(self) -> None:
        choices = ", ".join(f"Choix numéro {i} bien long" for i in range(11))
        assert problems(
            f"""\
            flow: t
            start: a
            vars: {{x: null}}
            states:
              a:
                say:
                  text: "{"a" * 600}"
                  sms: Version courte.
                ask:
                  var: x
                  type: choice
                  prompt: "{"b" * 200}"
                  choices: [{choices}]
                goto: b
              b: {{end: true}}
            """
        ) == [
            "flow.yaml:12:15: warning: states.a.ask.prompt: this message takes 4 SMS segments "
            "(GSM-7, 500 characters); FLOWS.md warns above 3: shorten it or give it a shorter "
            "`sms:` text"
        ]


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("flow: t\nstart: a\nstates: {a: {end: true}}\n", id="smallest"),
        pytest.param(
            "flow: t\nstart: a\nstates:\n  a:\n    say: '{{ now.year }}'\n    end: true\n",
            id="template",
        ),
    ],
)
def test_valid_flows_have_no_problem(source: str) -> None:
    flow, found = check_text(source, PATH)
    assert found == []
    assert flow is not None
