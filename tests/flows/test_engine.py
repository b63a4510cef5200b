"""The flow engine, one turn at a time, through `flows.engine.step` (FLOWS.md, every construct).

Each test compiles a small inline flow with `compile_text`, drives it with `Chat` (or `step`
itself) on a `FakeClock` and a `FakeHttp` backend, and looks only at what a turn gives back:
the messages, the snapshot, the timers armed and cancelled, the handoff and end flags, the trace.
"""

from __future__ import annotations

import asyncio
import copy
import textwrap
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from flows.compiler import CompiledFlow, goto_trigger
from flows.conversation import (
    FlowRuntimeError,
    Handoff,
    HttpRequest,
    HttpResponse,
    Received,
    Start,
    Status,
    StepResult,
    TimerFired,
    TurnContext,
)
from flows.engine import MAX_MOVES_PER_TURN, new_snapshot, step
from messaging.channel import Channel
from messaging.clock import FakeClock
from messaging.inbound import Inbound, InboundFile, InboundLocation, InboundPostback, InboundText
from tests.flows.conftest import Chat, FakeHttp, chips, flow, run_events, texts

NUMBERED = [Channel.SMS, Channel.T2C]
"""The channels that carry plain text with numbered choices."""


def keys(result: StepResult) -> list[str]:
    return [timer.key for timer in result.arm]


def dues(result: StepResult) -> list[datetime]:
    return [timer.due for timer in result.arm]


# --- entry: set, call, say, then ask / goto / handoff / end --------------------------------

ENTRY = """
    flow: entry
    start: first
    vars: {n: 0, item: null}
    states:
      first:
        set: {n: 5}
        call:
          url: "https://backend.example/items/{{ vars.n }}"
          save: item
        say: "n={{ vars.n }}"
        goto: second
      second:
        say: Deuxième
        goto: third
      third:
        say: Troisième
        on:
          - keywords: [fin]
            goto: done
      done:
        say: Fin
        end: true
"""


class TestEntry:
    async def test_set_comes_before_call(self, http: FakeHttp) -> None:
        http.respond({"label": "Cinq"})
        result = await Chat(flow(ENTRY), http=http).start()
        assert [r.url for r in http.requests] == ["https://backend.example/items/5"]
        assert texts(result)[0] == "n=5"
        assert result.snapshot.vars == {"n": 5, "item": {"label": "Cinq"}}

    ORDER = """
        flow: order
        start: fetch
        vars: {n: 0, item: null}
        states:
          fetch:
            set: {n: 5}
            call:
              url: "https://backend.example/items/{{ vars.n }}"
              save: item
              on_error: failed
            say: "Article {{ vars.n }} : {{ vars.item.label if vars.item else '?' }}"
            goto: done
          done: {say: Fin, end: true}
          failed: {say: Service indisponible, end: true}
    """

    async def test_call_comes_before_say(self, http: FakeHttp) -> None:
        http.respond({"label": "Cinq"})
        result = await Chat(flow(self.ORDER), http=http).start()
        assert texts(result) == ["Article 5 : Cinq", "Fin"]

    async def test_a_failed_call_skips_the_say_after_it(self, http: FakeHttp) -> None:
        http.respond(None, status=500)
        result = await Chat(flow(self.ORDER), http=http).start()
        assert texts(result) == ["Service indisponible"]

    async def test_goto_chains_run_in_one_turn(self, http: FakeHttp) -> None:
        http.respond({"label": "Cinq"})
        result = await Chat(flow(ENTRY), http=http).start()
        assert texts(result) == ["n=5", "Deuxième", "Troisième"]
        assert result.snapshot.state == "third"
        assert result.trace == ["enter first", "enter second", "enter third"]

    async def test_a_state_without_ask_goto_handoff_or_end_waits(self, http: FakeHttp) -> None:
        http.respond({"label": "Cinq"})
        chat = Chat(flow(ENTRY), http=http)
        started = await chat.start()
        assert started.snapshot.status is Status.ACTIVE
        assert not started.ended
        waited = await chat.say("bonjour")
        assert waited.messages == []
        assert chat.state == "third"
        assert waited.trace == ["no transition matched; waiting"]
        done = await chat.say("Fin !")
        assert texts(done) == ["Fin"]
        assert done.ended

    ENDINGS = """
        flow: endings
        start: menu
        vars: {name: null, seen: 0}
        states:
          menu:
            say: Menu
            on:
              - data: ask
                goto: asking
              - data: human
                goto: human
              - data: bye
                goto: bye
          asking:
            set: {seen: "{{ vars.seen + 1 }}"}
            say: "Question n°{{ vars.seen }}"
            ask: {var: name, prompt: "Votre nom ?"}
            goto: bye
          human:
            set: {seen: 9}
            say: "Je vous transfère ({{ vars.seen }})."
            handoff: {queue: accueil, say: "Un conseiller arrive."}
          bye:
            say: [Merci, "À bientôt"]
            end: true
    """

    @pytest.mark.parametrize(
        ("data", "expected", "status"),
        [
            ("ask", ["Question n°1", "Votre nom ?"], Status.ACTIVE),
            ("human", ["Je vous transfère (9).", "Un conseiller arrive."], Status.HANDED_OFF),
            ("bye", ["Merci", "À bientôt"], Status.ENDED),
        ],
    )
    async def test_say_comes_before_ask_handoff_and_end(
        self, data: str, expected: list[str], status: Status
    ) -> None:
        chat = Chat(flow(self.ENDINGS))
        await chat.start()
        result = await chat.tap(data)
        assert texts(result) == expected
        assert result.snapshot.status is status


class TestConditionalGoto:
    ROUTE = """
        flow: route
        start: route
        vars: {score: 0}
        states:
          route:
            goto:
              - if: vars.score >= 8
                to: happy
              - if: vars.score >= 5
                to: neutral
              - to: unhappy
          happy: {say: Super, end: true}
          neutral: {say: Merci, end: true}
          unhappy: {say: Désolé, end: true}
    """

    @pytest.mark.parametrize(
        ("score", "state"),
        [
            (9, "happy"),
            (8, "happy"),
            (6, "neutral"),
            (5, "neutral"),
            (4, "unhappy"),
            (0, "unhappy"),
        ],
    )
    async def test_first_true_entry_wins_and_an_entry_without_if_always_matches(
        self, score: int, state: str
    ) -> None:
        compiled = flow(self.ROUTE)
        snapshot = new_snapshot(compiled, {"score": score})
        result = await step(compiled, snapshot, Start(), context=TurnContext(), clock=FakeClock())
        assert result.snapshot.state == state
        assert result.trace == ["enter route", f"enter {state}"]

    GATE = """
        flow: gate
        start: gate
        vars: {ready: false}
        states:
          gate:
            say: En attente
            goto:
              - if: vars.ready
                to: go
            on:
              - keywords: [pret]
                set: {ready: true}
                goto: gate
              - after: 1h
                goto: go
          go: {say: "C'est parti", end: true}
    """

    async def test_no_true_entry_waits(self, clock: FakeClock) -> None:
        chat = Chat(flow(self.GATE), clock=clock)
        started = await chat.start()
        assert texts(started) == ["En attente"]
        assert chat.state == "gate"
        assert dues(started) == [clock.now() + timedelta(hours=1)]
        # While it waits, its `on` reads input; going back re-runs the goto.
        ready = await chat.say("Prêt !")
        assert texts(ready) == ["En attente", "C'est parti"]
        assert ready.snapshot.state == "go"
        assert keys(started)[0] in ready.cancel
        assert ready.arm == []
        assert ready.trace == ["on[0] matched", "enter gate", "enter go"]

    async def test_a_true_entry_moves_at_once(self) -> None:
        compiled = flow(self.GATE)
        snapshot = new_snapshot(compiled, {"ready": True})
        result = await step(compiled, snapshot, Start(), context=TurnContext(), clock=FakeClock())
        assert texts(result) == ["En attente", "C'est parti"]
        assert result.arm == []


# --- transitions: `on`, conditions, global `on`, `otherwise` ---------------------------------

MATCHING = r"""
    flow: matching
    start: menu
    vars: {allowed: false, where: null, doc: null}
    states:
      menu:
        say:
          text: Que souhaitez-vous ?
          suggestions:
            - {reply: Confirmer, data: confirm}
            - {reply: Annuler, data: cancel}
            - {reply: Déplacer, data: move}
        on:
          - data: confirm
            say: first
          - data: confirm
            say: second
          - data: [cancel, stop]
            say: data list
          - data: move
            if: vars.allowed
            say: move allowed
          - data: move
            say: move refused
          - text: '(?i)\b(d[ée]placer|reporter)\b'
            say: regex
          - keywords: [arrêter, "parler à quelqu'un"]
            say: keyword
          - if: "input.text | length > 30"
            say: long
          - location: true
            set: {where: "{{ input.location.latitude }}"}
            say: location
          - file: true
            set: {doc: "{{ input.file.url }}"}
            say: file
          - keywords: [fin]
            goto: done
        otherwise:
          say: Je n'ai pas compris.
      done: {say: Fin, end: true}
"""

LOCATION = InboundLocation(latitude=43.2965, longitude=5.3698)
PDF = InboundFile(url="https://files.example/ordonnance.pdf", content_type="application/pdf")


class TestOn:
    @pytest.mark.parametrize(
        ("message", "said", "index"),
        [
            (InboundPostback(data="confirm", text="Confirmer"), "first", 0),
            (InboundPostback(data="cancel"), "data list", 2),
            (InboundPostback(data="stop"), "data list", 2),
            (InboundPostback(data="move"), "move refused", 4),
            ("Je voudrais DÉPLACER mon rdv", "regex", 5),
            ("on peut reporter ?", "regex", 5),
            ("ARRETER", "keyword", 6),
            ("Arrêter !", "keyword", 6),
            ("je veux Parler a quelqu'un svp", "keyword", 6),
            ("une phrase bien plus longue que trente caractères", "long", 7),
            (LOCATION, "location", 8),
            (PDF, "file", 9),
        ],
    )
    async def test_first_matching_transition_wins(
        self, message: Inbound | str, said: str, index: int
    ) -> None:
        chat = Chat(flow(MATCHING))
        await chat.start()
        result = await chat.step(message)
        assert texts(result) == [said]
        assert result.trace == [f"on[{index}] matched"]
        assert chat.state == "menu"

    @pytest.mark.parametrize(
        "message",
        [
            "bonjour",
            "arrêterai",  # a keyword is a whole word
            "parler",  # a multi-word keyword needs all its words
            "déplacement",  # the regex wants the whole word
            "confirm",  # postback data is not text
            "",
        ],
    )
    async def test_nothing_matches_then_otherwise(self, message: str) -> None:
        chat = Chat(flow(MATCHING))
        await chat.start()
        result = await chat.say(message)
        assert texts(result) == ["Je n'ai pas compris."]
        assert result.trace == ["otherwise"]

    async def test_all_conditions_of_a_transition_must_hold(self) -> None:
        compiled = flow(MATCHING)
        snapshot = new_snapshot(compiled, {"allowed": True})
        results = await run_events(
            compiled, [Start(), InboundPostback(data="move")], snapshot=snapshot
        )
        assert texts(results[-1]) == ["move allowed"]

    async def test_location_and_file_are_read_into_input(self) -> None:
        chat = Chat(flow(MATCHING))
        await chat.start()
        await chat.step(LOCATION)
        await chat.step(PDF)
        assert chat.vars["where"] == 43.2965
        assert chat.vars["doc"] == "https://files.example/ordonnance.pdf"

    WORDS = """
        flow: words
        start: menu
        states:
          menu:
            say: Menu
            on:
              - keywords: [rendez-vous, "conseiller humain", "aujourd'hui", Œuvre]
                goto: done
          done: {say: Trouvé, end: true}
    """

    @pytest.mark.parametrize(
        "text",
        [
            "conseiller humain",
            "Un CONSEILLER Humain !",
            "oeuvre",
            "chef-d'œuvre ?",
            pytest.param("Je veux annuler mon rendez-vous"),
            pytest.param("pas aujourd'hui"),
            pytest.param("Un conseiller humain, svp"),
        ],
    )
    async def test_keywords_ignore_case_accents_and_punctuation(self, text: str) -> None:
        chat = Chat(flow(self.WORDS))
        await chat.start()
        result = await chat.say(text)
        assert chat.state == "done", result.trace


GLOBAL = """
    flow: global
    start: menu
    on:
      - keywords: [aide]
        say: Aide générale
      - keywords: [stop]
        goto: bye
    states:
      menu:
        say: Menu
        on:
          - keywords: [aide]
            say: Aide du menu
          - keywords: [suite]
            goto: other
      other:
        say: Autre
        on:
          - keywords: [retour]
            goto: menu
      bye: {say: Au revoir, end: true}
"""


class TestGlobalOn:
    async def test_the_state_own_on_is_tried_first(self) -> None:
        chat = Chat(flow(GLOBAL))
        await chat.start()
        result = await chat.say("aide")
        assert texts(result) == ["Aide du menu"]

    async def test_global_on_applies_when_the_state_has_no_match(self) -> None:
        chat = Chat(flow(GLOBAL))
        await chat.start()
        await chat.say("suite")
        result = await chat.say("AIDE")
        assert texts(result) == ["Aide générale"]
        assert chat.state == "other"

    @pytest.mark.parametrize("before", [[], ["suite"]])
    async def test_global_goto_from_any_state(self, before: list[str]) -> None:
        chat = Chat(flow(GLOBAL))
        await chat.start()
        for text in before:
            await chat.say(text)
        result = await chat.say("stop")
        assert texts(result) == ["Au revoir"]
        assert result.ended


OTHERWISE = """
    flow: otherwise
    start: menu
    vars: {misses: 0, visits: 0}
    states:
      menu:
        set: {visits: "{{ vars.visits + 1 }}"}
        say: "Menu (visite {{ vars.visits }})"
        on:
          - keywords: [aide]
            say: Tapez suite
          - keywords: [suite]
            goto: strict
          - keywords: [menu]
            goto: menu
        otherwise:
          set: {misses: "{{ vars.misses + 1 }}"}
          say: "Pas compris ({{ vars.misses }})"
      strict:
        say: Strict
        on:
          - keywords: [ok]
            goto: menu
        otherwise:
          say: Retour au menu
          goto: menu
"""


class TestOtherwise:
    async def test_without_goto_the_state_stays_and_is_not_re_entered(self) -> None:
        chat = Chat(flow(OTHERWISE))
        await chat.start()
        first = await chat.say("xyz")
        second = await chat.say("abc")
        assert texts(first) == ["Pas compris (1)"]
        assert texts(second) == ["Pas compris (2)"]
        assert first.trace == second.trace == ["otherwise"]
        assert chat.state == "menu"
        assert chat.vars["visits"] == 1

    async def test_with_goto_it_moves(self) -> None:
        chat = Chat(flow(OTHERWISE))
        await chat.start()
        await chat.say("suite")
        result = await chat.say("xyz")
        assert texts(result) == ["Retour au menu", "Menu (visite 2)"]
        assert result.trace == ["otherwise", "enter menu"]
        assert chat.vars == {"misses": 0, "visits": 2}

    async def test_a_transition_without_goto_does_not_re_enter(self) -> None:
        chat = Chat(flow(OTHERWISE))
        await chat.start()
        result = await chat.say("aide")
        assert texts(result) == ["Tapez suite"]
        assert result.trace == ["on[0] matched"]
        assert chat.vars["visits"] == 1

    async def test_a_goto_to_the_current_state_re_enters_it(self) -> None:
        chat = Chat(flow(OTHERWISE))
        await chat.start()
        result = await chat.say("menu")
        assert texts(result) == ["Menu (visite 2)"]
        assert result.trace == ["on[2] matched", "enter menu"]


# --- `after` timers -------------------------------------------------------------------------

TIMERS = """
    flow: timers
    start: wait
    vars: {vip: false}
    states:
      wait:
        say: Vous êtes là ?
        on:
          - keywords: [oui]
            goto: done
          - keywords: [attends]
            say: D'accord, je patiente.
          - after: 10m
            say: Toujours là ?
          - after: 2h
            if: vars.vip
            goto: vip
          - after: 1d
            goto: expired
        otherwise:
          say: Répondez oui.
      done: {say: Merci, end: true}
      vip: {say: Un conseiller VIP vous rappelle., end: true}
      expired: {say: Trop tard., end: true}
"""
DELAYS = [timedelta(minutes=10), timedelta(hours=2), timedelta(days=1)]


class TestTimers:
    async def test_armed_on_entering_a_waiting_state(self, clock: FakeClock) -> None:
        result = await Chat(flow(TIMERS), clock=clock).start()
        assert dues(result) == [clock.now() + delay for delay in DELAYS]
        assert len(set(keys(result))) == 3
        assert result.cancel == []

    async def test_cancelled_when_leaving(self, clock: FakeClock) -> None:
        chat = Chat(flow(TIMERS), clock=clock)
        started = await chat.start()
        clock.advance(timedelta(minutes=5))
        left = await chat.say("oui")
        assert sorted(left.cancel) == sorted(keys(started))
        assert left.arm == []
        assert chat.state == "done"

    @pytest.mark.parametrize("text", ["attends", "n'importe quoi"])
    async def test_input_that_keeps_the_state_restarts_them(
        self, clock: FakeClock, text: str
    ) -> None:
        chat = Chat(flow(TIMERS), clock=clock)
        started = await chat.start()
        clock.advance(timedelta(minutes=5))
        kept = await chat.say(text)
        assert chat.state == "wait"
        assert sorted(kept.cancel) == sorted(keys(started))
        assert set(keys(kept)).isdisjoint(keys(started))
        assert dues(kept) == [clock.now() + delay for delay in DELAYS]

    async def test_firing_the_current_key_takes_the_transition(self, clock: FakeClock) -> None:
        chat = Chat(flow(TIMERS), clock=clock)
        started = await chat.start()
        clock.advance(timedelta(days=1))
        fired = await chat.fire(keys(started)[2])
        assert texts(fired) == ["Trop tard."]
        assert fired.ended
        assert sorted(fired.cancel) == sorted(keys(started))
        assert fired.trace[0].startswith("after ")
        assert fired.trace[0].endswith(" in wait")
        assert fired.trace[1:] == ["enter expired"]

    async def test_a_timer_without_goto_says_and_keeps_the_others(self, clock: FakeClock) -> None:
        chat = Chat(flow(TIMERS), clock=clock)
        started = await chat.start()
        clock.advance(timedelta(minutes=10))
        reminded = await chat.fire(keys(started)[0])
        assert texts(reminded) == ["Toujours là ?"]
        assert chat.state == "wait"
        assert reminded.arm == []
        assert reminded.cancel == []
        clock.advance(timedelta(days=1))
        expired = await chat.fire(keys(started)[2])
        assert texts(expired) == ["Trop tard."]

    async def test_a_key_armed_before_a_restart_is_stale(self, clock: FakeClock) -> None:
        chat = Chat(flow(TIMERS), clock=clock)
        started = await chat.start()
        kept = await chat.say("attends")
        stale = await chat.fire(keys(started)[2])
        assert stale.messages == []
        assert stale.arm == []
        assert stale.cancel == []
        assert chat.state == "wait"
        assert stale.trace == [f"timer {keys(started)[2]} is stale; ignored"]
        fresh = await chat.fire(keys(kept)[2])
        assert texts(fresh) == ["Trop tard."]

    @pytest.mark.parametrize(("vip", "state"), [(False, "wait"), (True, "vip")])
    async def test_if_on_a_timer_transition(self, vip: bool, state: str) -> None:
        compiled = flow(TIMERS)
        clock = FakeClock()
        results = await run_events(
            compiled, [Start()], snapshot=new_snapshot(compiled, {"vip": vip}), clock=clock
        )
        fired = await step(
            compiled,
            results[0].snapshot,
            TimerFired(keys(results[0])[1]),
            context=TurnContext(),
            clock=clock,
        )
        assert fired.snapshot.state == state
        if not vip:
            assert fired.messages == []
            assert fired.trace == [f"timer {keys(results[0])[1]}: condition false"]

    REVISIT = """
        flow: revisit
        start: wait
        states:
          wait:
            say: Alors ?
            on:
              - keywords: [pause]
                goto: paused
              - after: 1h
                goto: late
          paused:
            say: En pause
            on:
              - keywords: [reprendre]
                goto: wait
          late: {say: En retard, end: true}
    """

    async def test_a_key_from_a_previous_visit_is_stale(self, clock: FakeClock) -> None:
        chat = Chat(flow(self.REVISIT), clock=clock)
        (first_key,) = keys(await chat.start())
        paused = await chat.say("pause")
        assert paused.cancel == [first_key]
        while_paused = await chat.fire(first_key)
        assert while_paused.messages == []
        assert chat.state == "paused"
        (second_key,) = keys(await chat.say("reprendre"))
        assert second_key != first_key
        stale = await chat.fire(first_key)
        assert stale.messages == []
        assert chat.state == "wait"
        late = await chat.fire(second_key)
        assert texts(late) == ["En retard"]

    @pytest.mark.parametrize("key", ["", "nonsense", "wait#0/after9", "wait#0/afterx"])
    async def test_unknown_keys_are_ignored(self, key: str) -> None:
        chat = Chat(flow(self.REVISIT))
        await chat.start()
        result = await chat.fire(key)
        assert result.messages == []
        assert chat.state == "wait"


# --- ask ------------------------------------------------------------------------------------

ASK = """
    flow: asking
    start: question
    vars: {answer: null}
    on:
      - keywords: [annuler]
        say: Demande annulée.
        goto: cancelled
    states:
      question:
        say: "Une question :"
        ask:
          var: answer
          <ASK>
        on:
          - keywords: [conseiller]
            goto: human
          - after: 1h
            goto: cancelled
        goto: thanks
      thanks: {say: "Merci : {{ vars.answer }}", end: true}
      cancelled: {say: Annulé, end: true}
      human:
        handoff: {queue: support, say: Un conseiller arrive.}
"""


def ask_id(value: object) -> str | None:
    """Test ids: an ask block's type; pytest's own id for anything else."""
    if isinstance(value, str) and value.startswith("type: "):
        return value.split("\n", 1)[0].removeprefix("type: ")
    return None


def ask_flow(ask: str) -> CompiledFlow:
    """The ASK flow with `ask` (YAML lines under `ask:`, after `var: answer`) filled in."""
    lines = textwrap.indent(textwrap.dedent(ask).strip(), " " * 6).lstrip()
    return flow(textwrap.dedent(ASK).replace("<ASK>", lines))


TEXT = "type: text\nprompt: Votre nom ?"
INTEGER = "type: integer\nmin: 1\nmax: 8\nprompt: Combien de places ?\nretry: Entre 1 et 8 places."
YES_NO = "type: yes_no\nprompt: Vous venez ?\nretry: Oui ou non ?"
CHOICE = (
    "type: choice\nprompt: Quelle couleur ?\n"
    "choices: [{reply: Rouge, data: red}, Vert, Bleu]\nretry: Choisissez une couleur."
)


class TestAsk:
    async def test_entry_sends_say_then_prompt_and_waits(self, clock: FakeClock) -> None:
        result = await Chat(ask_flow(TEXT), clock=clock).start()
        assert texts(result) == ["Une question :", "Votre nom ?"]
        assert result.snapshot.state == "question"
        assert dues(result) == [clock.now() + timedelta(hours=1)]

    @pytest.mark.parametrize(
        ("ask", "answer", "value"),
        [
            (TEXT, "  Ana Martin ", "Ana Martin"),
            (INTEGER, "4", 4),
            (INTEGER, "8", 8),
            ("type: number\nprompt: Votre note ?", "12,5", 12.5),
            (YES_NO, "oui", True),
            (YES_NO, "Non merci", False),
            (CHOICE, "vert", "vert"),
            (CHOICE, "ROUGE", "red"),
            ("type: date\nprompt: Quelle date ?", "13/12", "2026-12-13"),
            ("type: time\nprompt: À quelle heure ?", "10h30", "10:30"),
            ("type: email\nprompt: Votre e-mail ?", "ana@example.org", "ana@example.org"),
            ("type: phone\nprompt: Votre numéro ?", "06 12 34 56 78", "+33612345678"),
            ("type: regex\npattern: '[A-Z]{2}[0-9]{4}'\nprompt: Référence ?", "AB1234", "AB1234"),
        ],
        ids=ask_id,
    )
    async def test_valid_answer_is_stored_and_goto_applies(
        self, ask: str, answer: str, value: Any
    ) -> None:
        chat = Chat(ask_flow(ask))
        started = await chat.start()
        result = await chat.say(answer)
        assert chat.vars["answer"] == value
        assert type(chat.vars["answer"]) is type(value)
        assert chat.state == "thanks"
        assert result.trace == [f"answer = {value!r}", "enter thanks"]
        assert result.cancel == keys(started)

    @pytest.mark.parametrize(
        ("ask", "answer", "retry"),
        [
            (INTEGER, "12", "Entre 1 et 8 places."),
            (INTEGER, "0", "Entre 1 et 8 places."),
            (INTEGER, "beaucoup", "Entre 1 et 8 places."),
            (INTEGER, "2,5", "Entre 1 et 8 places."),
            (YES_NO, "peut-être", "Oui ou non ?"),
            (CHOICE, "violet", "Choisissez une couleur."),
            ("type: date\nprompt: Quelle date ?\nretry: Une date svp.", "bof", "Une date svp."),
            ("type: email\nprompt: E-mail ?\nretry: Un e-mail svp.", "ana@", "Un e-mail svp."),
            ("type: phone\nprompt: Numéro ?\nretry: Un numéro svp.", "123", "Un numéro svp."),
            # Without `retry`, the prompt is asked again.
            ("type: integer\nprompt: Combien ?", "plein", "Combien ?"),
        ],
        ids=ask_id,
    )
    async def test_invalid_answer_gets_retry(self, ask: str, answer: str, retry: str) -> None:
        chat = Chat(ask_flow(ask))
        await chat.start()
        result = await chat.say(answer)
        assert texts(result) == [retry]
        assert chat.state == "question"
        assert chat.vars["answer"] is None
        assert result.snapshot.attempts == 1
        assert len(result.trace) == 1
        assert result.trace[0].startswith("answer refused (")
        assert result.trace[0].endswith("), attempt 1")

    async def test_invalid_answer_restarts_the_timers(self, clock: FakeClock) -> None:
        chat = Chat(ask_flow(INTEGER), clock=clock)
        started = await chat.start()
        clock.advance(timedelta(minutes=20))
        refused = await chat.say("beaucoup")
        assert refused.cancel == keys(started)
        assert dues(refused) == [clock.now() + timedelta(hours=1)]
        assert keys(refused) != keys(started)

    async def test_on_fail_after_max_attempts(self) -> None:
        chat = Chat(ask_flow(INTEGER + "\nmax_attempts: 2\non_fail: human"))
        await chat.start()
        first = await chat.say("beaucoup")
        assert texts(first) == ["Entre 1 et 8 places."]
        second = await chat.say("vraiment beaucoup")
        assert texts(second) == ["Un conseiller arrive."]
        assert second.snapshot.status is Status.HANDED_OFF
        assert second.handoff == Handoff(queue="support")

    async def test_max_attempts_defaults_to_three_with_on_fail(self) -> None:
        chat = Chat(ask_flow(INTEGER + "\non_fail: human"))
        await chat.start()
        for _ in range(2):
            assert texts(await chat.say("zéro")) == ["Entre 1 et 8 places."]
        assert texts(await chat.say("zéro")) == ["Un conseiller arrive."]
        assert chat.state == "human"

    async def test_without_on_fail_it_asks_again_and_again(self) -> None:
        chat = Chat(ask_flow(INTEGER))
        await chat.start()
        for attempt in range(1, 6):
            result = await chat.say("non")
            assert texts(result) == ["Entre 1 et 8 places."]
            assert result.snapshot.attempts == attempt
        assert texts(await chat.say("3")) == ["Merci : 3"]

    REVISIT = """
        flow: revisit
        start: question
        vars: {answer: null}
        states:
          question:
            ask:
              var: answer
              type: integer
              prompt: Combien ?
              retry: Un nombre svp.
              max_attempts: 2
              on_fail: human
            on:
              - keywords: [menu]
                goto: menu
            goto: done
          menu:
            say: Menu
            on:
              - keywords: [question]
                goto: question
          done: {say: Merci, end: true}
          human:
            handoff: {queue: support, say: Un conseiller arrive.}
    """

    async def test_attempts_start_again_on_a_new_visit(self) -> None:
        chat = Chat(flow(self.REVISIT))
        await chat.start()
        assert (await chat.say("beaucoup")).snapshot.attempts == 1
        await chat.say("menu")
        again = await chat.say("question")
        assert texts(again) == ["Combien ?"]
        assert again.snapshot.attempts == 0
        refused = await chat.say("beaucoup")
        assert texts(refused) == ["Un nombre svp."]
        assert refused.snapshot.attempts == 1
        assert chat.state == "question"

    @pytest.mark.parametrize("ask", [TEXT, INTEGER, YES_NO, CHOICE], ids=ask_id)
    async def test_the_state_on_wins_over_validation(self, ask: str) -> None:
        chat = Chat(ask_flow(ask))
        await chat.start()
        result = await chat.say("Conseiller")
        assert texts(result) == ["Un conseiller arrive."]
        assert chat.vars["answer"] is None

    @pytest.mark.parametrize("ask", [TEXT, INTEGER, YES_NO, CHOICE], ids=ask_id)
    async def test_the_global_on_wins_over_validation(self, ask: str) -> None:
        chat = Chat(ask_flow(ask))
        await chat.start()
        result = await chat.say("ANNULER")
        assert texts(result) == ["Demande annulée.", "Annulé"]
        assert chat.vars["answer"] is None
        assert chat.state == "cancelled"

    async def test_yes_no_shows_oui_non_chips_on_prompt_and_retry(self) -> None:
        chat = Chat(ask_flow(YES_NO))
        started = await chat.start()
        assert chips(started.messages[0]) == []
        assert chips(started.messages[1]) == [("Oui", "yes"), ("Non", "no")]
        retried = await chat.say("bof")
        assert chips(retried.messages[0]) == [("Oui", "yes"), ("Non", "no")]

    async def test_choice_shows_its_choices_as_chips(self) -> None:
        started = await Chat(ask_flow(CHOICE)).start()
        assert chips(started.messages[-1]) == [("Rouge", "red"), ("Vert", "vert"), ("Bleu", "bleu")]

    @pytest.mark.parametrize(
        ("ask", "message", "channel", "value"),
        [
            (YES_NO, "1", Channel.SMS, True),
            (YES_NO, "2", Channel.T2C, False),
            (YES_NO, InboundPostback(data="yes", text="Oui"), Channel.RCS, True),
            (YES_NO, InboundPostback(data="no", text="Non"), Channel.RCS, False),
            (CHOICE, "1", Channel.SMS, "red"),
            (CHOICE, "3", Channel.SMS, "bleu"),
            (CHOICE, InboundPostback(data="red", text="Rouge"), Channel.RCS, "red"),
        ],
        ids=ask_id,
    )
    async def test_chips_answer_by_number_or_tap(
        self, ask: str, message: Inbound | str, channel: Channel, value: Any
    ) -> None:
        chat = Chat(ask_flow(ask), channel=channel)
        await chat.start()
        await chat.step(message)
        assert chat.vars["answer"] == value
        assert chat.state == "thanks"

    @pytest.mark.parametrize("ask", [YES_NO, CHOICE], ids=ask_id)
    async def test_a_number_on_rcs_is_not_a_choice(self, ask: str) -> None:
        chat = Chat(ask_flow(ask), channel=Channel.RCS)
        await chat.start()
        result = await chat.say("1")
        assert chat.state == "question"
        assert result.snapshot.attempts == 1

    @pytest.mark.parametrize(
        ("ask", "data", "value"), [(YES_NO, "no", False), (CHOICE, "red", "red")], ids=ask_id
    )
    async def test_a_tapped_chip_without_text_is_an_answer(
        self, ask: str, data: str, value: Any
    ) -> None:
        chat = Chat(ask_flow(ask))
        await chat.start()
        await chat.tap(data)
        assert chat.vars["answer"] == value

    async def test_dates_are_read_in_the_bot_time_zone(self) -> None:
        # 23:30 UTC on 5 January is already 6 January in Paris.
        late = datetime(2026, 1, 5, 23, 30, tzinfo=UTC)
        ask = "type: date\nprompt: Quel jour ?"
        paris = Chat(ask_flow(ask), clock=FakeClock(late))
        utc = Chat(ask_flow(ask), clock=FakeClock(late), timezone=ZoneInfo("UTC"))
        for chat in (paris, utc):
            await chat.start()
            await chat.say("demain")
        assert paris.vars["answer"] == "2026-01-07"
        assert utc.vars["answer"] == "2026-01-06"


# --- SMS numbered choices -------------------------------------------------------------------

SMS = """
    flow: sms
    start: ask
    vars: {seats: null}
    on:
      - data: cancel
        goto: cancelled
    states:
      ask:
        say:
          text: Votre rendez-vous tient-il toujours ?
          suggestions:
            - {reply: Je confirme, data: confirm}
            - {reply: Annuler, data: cancel}
            - {reply: Déplacer, data: move}
        on:
          - data: confirm
            goto: seats
          - data: move
            goto: moved
          - keywords: [aide]
            say: Répondez par oui ou par non.
        otherwise:
          say: Je n'ai pas compris.
      seats:
        ask: {var: seats, type: integer, prompt: Combien de personnes viendront ?}
        goto: confirmed
      confirmed: {say: "Merci, à bientôt !", end: true}
      moved: {say: Déplacé, end: true}
      cancelled: {say: Annulé, end: true}
"""


class TestNumberedChoices:
    @pytest.mark.parametrize("channel", NUMBERED)
    @pytest.mark.parametrize("reply", ["3", "Déplacer", "deplacer", "DÉPLACER", " déplacer ! "])
    async def test_number_label_or_folded_label_take_the_same_transition(
        self, channel: Channel, reply: str
    ) -> None:
        chat = Chat(flow(SMS), channel=channel)
        started = await chat.start()
        assert [(c.number, c.data) for c in started.choices.choices] == [
            (1, "confirm"),
            (2, "cancel"),
            (3, "move"),
        ]
        result = await chat.say(reply)
        assert texts(result) == ["Déplacé"]

    @pytest.mark.parametrize("channel", NUMBERED)
    @pytest.mark.parametrize("reply", ["2", "annuler", "Annuler"])
    async def test_numbers_reach_the_global_on_too(self, channel: Channel, reply: str) -> None:
        chat = Chat(flow(SMS), channel=channel)
        await chat.start()
        await chat.say(reply)
        assert chat.state == "cancelled"

    @pytest.mark.parametrize("channel", NUMBERED)
    async def test_a_number_that_is_not_shown_is_text(self, channel: Channel) -> None:
        chat = Chat(flow(SMS), channel=channel)
        await chat.start()
        result = await chat.say("4")
        assert texts(result) == ["Je n'ai pas compris."]

    @pytest.mark.parametrize("channel", NUMBERED)
    async def test_a_help_text_said_in_the_same_state_keeps_the_numbering(
        self, channel: Channel
    ) -> None:
        chat = Chat(flow(SMS), channel=channel)
        await chat.start()
        helped = await chat.say("aide")
        assert texts(helped) == ["Répondez par oui ou par non."]
        assert [c.data for c in helped.choices.choices] == ["confirm", "cancel", "move"]
        await chat.say("2")
        assert chat.state == "cancelled"

    @pytest.mark.parametrize("channel", NUMBERED)
    async def test_after_a_plain_question_a_number_is_the_answer(self, channel: Channel) -> None:
        chat = Chat(flow(SMS), channel=channel)
        await chat.start()
        asked = await chat.say("1")
        assert texts(asked) == ["Combien de personnes viendront ?"]
        assert not asked.choices
        result = await chat.say("2")
        assert chat.vars["seats"] == 2
        assert texts(result) == ["Merci, à bientôt !"]

    async def test_on_rcs_a_number_is_not_read_as_a_choice(self) -> None:
        chat = Chat(flow(SMS), channel=Channel.RCS)
        await chat.start()
        result = await chat.say("2")
        assert texts(result) == ["Je n'ai pas compris."]
        assert chat.state == "ask"

    @pytest.mark.parametrize("reply", ["Déplacer", "deplacer", "DÉPLACER"])
    async def test_on_rcs_a_typed_label_still_matches(self, reply: str) -> None:
        chat = Chat(flow(SMS), channel=Channel.RCS)
        await chat.start()
        result = await chat.say(reply)
        assert texts(result) == ["Déplacé"]

    @pytest.mark.parametrize("channel", [Channel.RCS, *NUMBERED])
    @pytest.mark.parametrize("first", [[], ["aide"]])
    async def test_postback_data_always_matches(self, channel: Channel, first: list[str]) -> None:
        chat = Chat(flow(SMS), channel=channel)
        await chat.start()
        for text in first:
            await chat.say(text)  # clears the numbering; a tap carries its own data
        result = await chat.tap("move", "Déplacer")
        assert texts(result) == ["Déplacé"]


# --- call ----------------------------------------------------------------------------------

CALL = """
    flow: booking
    start: check
    vars: {new_date: "2026-12-13", count: 2, slot: null}
    states:
      check:
        call:
          url: "{{ env.BOOKING_URL }}/slots?date={{ vars.new_date }}"
          method: post
          headers:
            Authorization: "Bearer {{ env.TOKEN }}"
            X-Count: "{{ vars.count }}"
          json:
            date: "{{ vars.new_date }}"
            count: "{{ vars.count }}"
            note: "{{ vars.count }} places"
            people: ["{{ contact.first_name }}", "{{ vars.count * 10 }}"]
            fixed: 3
            nested: {ok: true, none: null}
          timeout: 5s
          save: slot
          on_error: human
        goto:
          - if: vars.slot.available
            to: moved
          - to: full
      moved: {say: "Rendez-vous déplacé : {{ vars.slot.label }}", end: true}
      full: {say: Complet, end: true}
      human:
        handoff: {queue: accueil, say: Un conseiller vous répond.}
"""
ENV = {"BOOKING_URL": "https://booking.example", "TOKEN": "s3cret"}


def without_on_error() -> str:
    """The CALL flow with neither `on_error` nor the state it led to."""
    source = textwrap.dedent(CALL)
    for line in (
        "      on_error: human\n",
        "  human:\n",
        "    handoff: {queue: accueil, say: Un conseiller vous répond.}\n",
    ):
        assert line in source
        source = source.replace(line, "")
    return source


def booking(http: FakeHttp, source: str = CALL) -> Chat:
    return Chat(flow(source), env=ENV, contact={"first_name": "Ana"}, http=http)


class TestCall:
    async def test_request_is_built_from_templates(self, http: FakeHttp) -> None:
        http.respond({"available": True, "label": "13/12 à 10h"})
        await booking(http).start()
        assert http.requests == [
            HttpRequest(
                method="POST",
                url="https://booking.example/slots?date=2026-12-13",
                headers={"Authorization": "Bearer s3cret", "X-Count": "2"},
                json={
                    "date": "2026-12-13",
                    "count": 2,
                    "note": "2 places",
                    "people": ["Ana", 20],
                    "fixed": 3,
                    "nested": {"ok": True, "none": None},
                },
                timeout=timedelta(seconds=5),
            )
        ]
        assert type(http.requests[0].json["count"]) is int

    async def test_defaults_get_without_body(self, http: FakeHttp) -> None:
        source = """
            flow: plain
            start: fetch
            vars: {data: null}
            states:
              fetch:
                call: {url: "https://backend.example/x"}
                say: Fait
                end: true
        """
        http.respond(None, status=204)
        result = await Chat(flow(source), http=http).start()
        assert http.requests == [
            HttpRequest("GET", "https://backend.example/x", {}, None, timedelta(seconds=10))
        ]
        assert texts(result) == ["Fait"]

    @pytest.mark.parametrize(
        ("available", "said", "state"),
        [(True, "Rendez-vous déplacé : 13/12 à 10h", "moved"), (False, "Complet", "full")],
    )
    async def test_save_stores_the_response_json(
        self, http: FakeHttp, available: bool, said: str, state: str
    ) -> None:
        slot = {"available": available, "label": "13/12 à 10h", "tags": ["a"]}
        http.respond(slot, status=201)
        result = await booking(http).start()
        assert result.snapshot.vars["slot"] == slot
        assert texts(result) == [said]
        assert result.snapshot.state == state

    @pytest.mark.parametrize("status", [199, 302, 400, 404, 500, 503])
    async def test_non_2xx_goes_to_on_error(self, http: FakeHttp, status: int) -> None:
        http.respond({"error": "nope"}, status=status)
        result = await booking(http).start()
        assert texts(result) == ["Un conseiller vous répond."]
        assert result.handoff == Handoff(queue="accueil")
        assert result.snapshot.vars["slot"] is None
        assert result.trace[0] == "enter check"
        assert result.trace[1].endswith(f"failed: HTTP {status}")
        assert result.trace[2] == "enter human"

    @pytest.mark.parametrize(
        ("error", "reason"),
        [
            (ConnectionRefusedError("connection refused"), "connection refused"),
            (ValueError("bad JSON"), "bad JSON"),
            (TimeoutError(), "timed out"),
        ],
    )
    async def test_exceptions_and_timeouts_go_to_on_error(
        self, http: FakeHttp, error: Exception, reason: str
    ) -> None:
        http.fail(error)
        result = await booking(http).start()
        assert result.snapshot.state == "human"
        assert (
            f"call POST https://booking.example/slots?date=2026-12-13 failed: {reason}"
            in result.trace
        )

    async def test_the_call_timeout_is_enforced(self, http: FakeHttp) -> None:
        async def never_answers(request: HttpRequest) -> HttpResponse:
            # Jump the event loop's clock past the 5 s timeout instead of sleeping.
            loop = asyncio.get_running_loop()
            real_time = loop.time
            later = real_time() + 3600
            loop.time = lambda: later  # type: ignore[method-assign]
            try:
                await loop.create_future()
            finally:
                del loop.time
            raise AssertionError("the engine did not time the call out")

        http.handle(never_answers)
        result = await booking(http).start()
        assert result.snapshot.state == "human"
        assert any(line.endswith("failed: timed out") for line in result.trace)

    async def test_without_on_error_a_failure_is_a_runtime_error(self, http: FakeHttp) -> None:
        http.respond(None, status=503)
        with pytest.raises(
            FlowRuntimeError, match=r"state 'check': call to .* failed: HTTP 503"
        ) as error:
            await booking(http, without_on_error()).start()
        assert error.value.state == "check"

    async def test_without_on_error_an_exception_is_a_runtime_error(self, http: FakeHttp) -> None:
        http.fail(ConnectionResetError("reset by peer"))
        with pytest.raises(FlowRuntimeError, match="reset by peer") as error:
            await booking(http, without_on_error()).start()
        assert error.value.state == "check"


# --- set and the template context ----------------------------------------------------------

CONTEXT = """
    flow: context
    start: start
    vars:
      n: 1
      next: null
      label: null
      phone: null
      extra: null
      chan: null
      when: null
      hour: null
      url: null
      bot_name: null
      typed: null
      picked: null
      fixed: null
      listed: null
    states:
      start:
        set:
          next: "{{ vars.n + 1 }}"
          label: "n = {{ vars.n }}"
          phone: "{{ contact.phone }}"
          extra: "{{ contact.loyalty }}"
          chan: "{{ channel }}"
          when: "{{ now.isoformat() }}"
          hour: "{{ now.hour }}"
          url: "{{ env.SITE }}/suivi"
          bot_name: "{{ bot.name }}"
          fixed: 42
          listed: ["{{ vars.n }}", "x{{ vars.n }}"]
        say: "Bonjour {{ contact.first_name }} ({{ bot.name }}, {{ channel }})"
        on:
          - if: "input.data is none"
            set: {typed: "{{ input.text }}"}
            goto: done
          - set: {picked: "{{ input.data }}"}
            goto: done
      done: {say: "Fin {{ vars.typed }} {{ vars.picked }}", end: true}
"""
CONTACT = {"first_name": "Ana", "phone": "+33612345678", "loyalty": "gold"}


def context_chat(**options: Any) -> Chat:
    options.setdefault("contact", CONTACT)
    return Chat(
        flow(CONTEXT), env={"SITE": "https://shop.example"}, bot={"name": "Cabinet"}, **options
    )


class TestSetAndContext:
    async def test_set_keeps_native_types_and_renders_text(self) -> None:
        result = await context_chat().start()
        variables = result.snapshot.vars
        assert variables["next"] == 2
        assert type(variables["next"]) is int
        assert variables["label"] == "n = 1"
        assert variables["fixed"] == 42
        assert variables["listed"] == [1, "x1"]

    async def test_contact_channel_bot_and_env(self) -> None:
        result = await context_chat(channel=Channel.SMS).start()
        variables = result.snapshot.vars
        assert variables["phone"] == "+33612345678"
        assert variables["extra"] == "gold"  # custom contact fields
        assert variables["chan"] == "sms"
        assert variables["url"] == "https://shop.example/suivi"
        assert variables["bot_name"] == "Cabinet"
        assert texts(result) == ["Bonjour Ana (Cabinet, sms)"]

    @pytest.mark.parametrize(
        ("timezone", "when", "hour"),
        [
            (ZoneInfo("Europe/Paris"), "2026-01-05T10:00:00+01:00", 10),
            (ZoneInfo("Indian/Reunion"), "2026-01-05T13:00:00+04:00", 13),
            (ZoneInfo("America/Martinique"), "2026-01-05T05:00:00-04:00", 5),
        ],
    )
    async def test_now_is_aware_in_the_bot_time_zone(
        self, timezone: ZoneInfo, when: str, hour: int
    ) -> None:
        clock = FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
        result = await context_chat(timezone=timezone, clock=clock).start()
        assert result.snapshot.vars["when"] == when
        assert result.snapshot.vars["hour"] == hour

    async def test_input_text(self) -> None:
        chat = context_chat()
        await chat.start()
        result = await chat.say("Bonjour !")
        assert chat.vars["typed"] == "Bonjour !"
        assert texts(result) == ["Fin Bonjour ! None"]

    async def test_input_data(self) -> None:
        chat = context_chat()
        await chat.start()
        await chat.tap("later", "Plus tard")
        assert chat.vars["picked"] == "later"
        assert chat.vars["typed"] is None

    async def test_an_undefined_name_at_run_time_is_an_error(self) -> None:
        chat = context_chat(contact={"first_name": "Ana", "phone": "+33612345678"})
        with pytest.raises(FlowRuntimeError, match="loyalty") as error:
            await chat.start()
        assert error.value.state == "start"
        assert str(error.value).startswith("state 'start': ")

    async def test_an_undefined_name_in_say_is_an_error_not_an_empty_string(self) -> None:
        source = """
            flow: hello
            start: hello
            states:
              hello: {say: "Bonjour {{ contact.first_name }} !", end: true}
        """
        with pytest.raises(FlowRuntimeError, match="first_name") as error:
            await Chat(flow(source)).start()
        assert error.value.state == "hello"

    async def test_an_undefined_name_in_a_condition_is_an_error_not_false(self) -> None:
        source = """
            flow: vip
            start: menu
            states:
              menu:
                say: Menu
                on:
                  - if: contact.vip
                    goto: vip
                  - keywords: [fin]
                    goto: vip
              vip: {say: Bienvenue, end: true}
        """
        chat = Chat(flow(source))
        await chat.start()
        with pytest.raises(FlowRuntimeError, match="vip") as error:
            await chat.say("bonjour")
        assert error.value.state == "menu"


# --- handoff and end ------------------------------------------------------------------------

HANDOFF = """
    flow: handoff
    start: menu
    on:
      - keywords: [conseiller]
        goto: human
    states:
      menu:
        say: Menu
        on:
          - keywords: [fin]
            goto: bye
          - after: 1h
            goto: bye
      human:
        say: Je vous transfère.
        handoff: {queue: accueil, say: Un conseiller vous répond au plus vite.}
      bye: {say: [Merci, À bientôt], end: true}
"""


class TestHandoffAndEnd:
    async def test_handoff_sends_its_say_and_hands_off(self) -> None:
        chat = Chat(flow(HANDOFF))
        started = await chat.start()
        result = await chat.say("Un conseiller svp")
        assert texts(result) == ["Je vous transfère.", "Un conseiller vous répond au plus vite."]
        assert result.handoff == Handoff(queue="accueil")
        assert result.snapshot.status is Status.HANDED_OFF
        assert result.cancel == keys(started)
        assert result.arm == []
        assert not result.ended

    async def test_end_sends_its_say_and_ends(self) -> None:
        chat = Chat(flow(HANDOFF))
        await chat.start()
        result = await chat.say("fin")
        assert texts(result) == ["Merci", "À bientôt"]
        assert result.ended
        assert result.snapshot.status is Status.ENDED
        assert result.handoff is None

    @pytest.mark.parametrize(
        ("text", "status"), [("conseiller", Status.HANDED_OFF), ("fin", Status.ENDED)]
    )
    @pytest.mark.parametrize(
        "later",
        [
            InboundText(text="bonjour"),
            InboundText(text="conseiller"),
            InboundText(text="fin"),
            InboundPostback(data="x"),
            LOCATION,
        ],
    )
    async def test_later_inputs_produce_nothing(
        self, text: str, status: Status, later: Inbound
    ) -> None:
        chat = Chat(flow(HANDOFF))
        started = await chat.start()
        stopped = await chat.say(text)
        for event in (Received(later), TimerFired(keys(started)[0])):
            result = await chat.step(event)
            assert result.messages == []
            assert result.arm == []
            assert result.cancel == []
            assert result.handoff is None
            assert not result.ended
            assert result.snapshot.status is status
            assert result.snapshot.state == stopped.snapshot.state
            assert result.trace == [f"conversation is {status}; nothing to do"]


# --- loops, purity, the shared machine ------------------------------------------------------

LOOP = """
    flow: loop
    start: a
    vars: {spin: true}
    states:
      a:
        say: tour
        goto:
          - if: vars.spin
            to: b
          - to: done
      b: {goto: a}
      done: {say: fin, end: true}
"""


class TestLoops:
    async def test_a_goto_loop_is_stopped_after_the_move_limit(self) -> None:
        with pytest.raises(FlowRuntimeError, match=f"more than {MAX_MOVES_PER_TURN} moves"):
            await Chat(flow(LOOP)).start()

    async def test_the_same_loop_that_ends_runs(self) -> None:
        compiled = flow(LOOP)
        snapshot = new_snapshot(compiled, {"spin": False})
        result = await step(compiled, snapshot, Start(), context=TurnContext(), clock=FakeClock())
        assert texts(result) == ["tour", "fin"]


KEEP = """
    flow: keep
    start: menu
    vars: {cart: {items: [pain], total: 1}, count: 0, answer: null, slot: null}
    states:
      menu:
        say:
          text: Menu
          suggestions:
            - {reply: Compter, data: count}
            - {reply: Demander, data: ask}
            - {reply: Appeler, data: call}
        on:
          - data: count
            set:
              count: "{{ vars.count + 1 }}"
              cart: {items: ["{{ vars.cart.items[0] }}", lait], total: 2}
            say: Compté
          - data: ask
            goto: question
          - data: call
            goto: backend
          - after: 1h
            say: Rappel
      question:
        ask: {var: answer, type: integer, prompt: Combien ?, retry: Un nombre svp}
        goto: menu
      backend:
        call: {url: "https://backend.example/slot", save: slot}
        goto: menu
"""


class TestPurity:
    @pytest.mark.parametrize(
        ("setup", "event"),
        [
            ([], "1"),
            ([], "bonjour"),
            ([], "3"),
            ([], "timer"),
            (["2"], "abc"),
            (["2"], "7"),
            (["2"], "timer"),
        ],
    )
    async def test_the_input_snapshot_is_never_mutated(
        self, http: FakeHttp, setup: list[str], event: str
    ) -> None:
        http.respond({"free": True})
        chat = Chat(flow(KEEP), channel=Channel.SMS, http=http)
        started = await chat.start()
        for text in setup:
            await chat.say(text)
        snapshot = chat.snapshot
        assert snapshot is not None
        before = copy.deepcopy(snapshot)
        variables, cart = snapshot.vars, snapshot.vars["cart"]
        turn: Received | TimerFired = (
            TimerFired(keys(started)[0]) if event == "timer" else Received(InboundText(text=event))
        )
        result = await step(
            chat.flow, snapshot, turn, context=chat.context, clock=chat.clock, http=http
        )
        assert result.snapshot is not snapshot
        assert snapshot == before
        assert snapshot.vars is variables
        assert snapshot.vars["cart"] is cart
        assert cart == {"items": ["pain"], "total": 1}

    async def test_the_same_turn_gives_the_same_result(self) -> None:
        compiled = flow(KEEP)
        clock = FakeClock()
        (started,) = await run_events(compiled, [Start()], clock=clock)
        event = Received(InboundPostback(data="count"))
        first = await step(compiled, started.snapshot, event, context=TurnContext(), clock=clock)
        second = await step(compiled, started.snapshot, event, context=TurnContext(), clock=clock)
        assert first == second
        assert first.snapshot.vars["count"] == 1


class TestSharedMachine:
    async def test_the_machine_has_only_goto_events(self) -> None:
        compiled = flow(OTHERWISE)
        machine = compiled.machine
        assert machine.auto_transitions is False
        assert sorted(machine.events) == [goto_trigger("menu"), goto_trigger("strict")]
        assert not any(name.startswith("to_") for name in machine.events)
        assert all(name.startswith("goto ") for name in machine.events)

    async def test_global_transitions_leave_from_every_state(self) -> None:
        machine = flow(GLOBAL).machine
        assert sorted(machine.get_triggers("other")) == ["goto bye", "goto menu"]
        assert sorted(machine.get_triggers("menu")) == ["goto bye", "goto other"]
        assert sorted(machine.get_triggers("bye")) == ["goto bye"]

    async def test_interleaved_conversations_are_independent(self) -> None:
        compiled = flow(OTHERWISE)
        machine = compiled.machine
        ana, bob = Chat(compiled), Chat(compiled)
        await ana.start()
        await bob.start()
        await ana.say("xyz")
        await bob.say("suite")
        await ana.say("abc")
        bob_back = await bob.say("???")
        ana_help = await ana.say("aide")
        assert (ana.state, ana.vars) == ("menu", {"misses": 2, "visits": 1})
        assert (bob.state, bob.vars) == ("menu", {"misses": 0, "visits": 2})
        assert texts(bob_back) == ["Retour au menu", "Menu (visite 2)"]
        assert texts(ana_help) == ["Tapez suite"]
        assert compiled.machine is machine
        assert machine.models == []  # conversations are never attached to the shared machine

    async def test_concurrent_turns_on_one_flow(self) -> None:
        compiled = flow(KEEP)
        release = asyncio.Event()

        async def slow(request: HttpRequest) -> HttpResponse:
            await release.wait()
            return HttpResponse(200, {"who": "first"})

        async def fast(request: HttpRequest) -> HttpResponse:
            release.set()
            return HttpResponse(200, {"who": "second"})

        first_http, second_http = FakeHttp().handle(slow), FakeHttp().handle(fast)
        first, second = Chat(compiled, http=first_http), Chat(compiled, http=second_http)
        await first.start()
        await second.start()
        # The first turn waits on its backend while the second one runs to the end.
        results = await asyncio.gather(first.tap("call"), second.tap("call"))
        assert [r.snapshot.vars["slot"] for r in results] == [{"who": "first"}, {"who": "second"}]
        assert [r.snapshot.state for r in results] == ["menu", "menu"]
