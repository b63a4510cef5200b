"""The generated flows of `benchmarks/flow_step.py`: one flow of any number of states, as
YAML text in the flow language of FLOWS.md, and its compilation.

Every state says a templated text with three reply chips, has two `data:` transitions, a
`keywords` transition and an `after: 2h` timer; a global `on` has keywords; the states form
a ring plus skips, so all are reachable. `compile_flow` runs every semantic check of
`compile_text` and raises if the flow is refused.
"""

from __future__ import annotations

import time
from string import Template

from flows.compiler import CompiledFlow
from flows.validation import compile_text

SKIP = 7
"""The `skip` chip jumps this many states ahead; with the ring it keeps every state reachable."""


_HEADER = Template(
    """\
flow: bench-$size
description: Synthetic flow of $size states for benchmarks/flow_step.py
traffic: transactional
start: s0
vars:
  counter: 0
  last_choice: null

on:
  - keywords: [aide, help, menu]
    say: "Répondez SUIVANT, SAUTER ou RETOUR."
  - keywords: [accueil, recommencer]
    goto: s0

states:
"""
)

_STATE = Template(
    """\
  $name:
    say:
      text: "Bonjour {{ contact.first_name }}, étape $index/$size, compteur {{ vars.counter }}."
      suggestions:
        - reply: Suivant
          data: next
        - reply: Sauter
          data: skip
        - reply: Retour
          data: back
    on:
      - data: next
        goto: $next
      - data: skip
        goto: $skip
      - keywords: [retour, précédent, back]
        goto: $back
      - after: 2h
        goto: $next
"""
)


def state_name(index: int, size: int) -> str:
    return f"s{index % size}"


def flow_yaml(size: int) -> str:
    """A flow of `size` states as YAML text, in the flow language of FLOWS.md."""
    parts = [_HEADER.substitute(size=size)]
    for index in range(size):
        parts.append(
            _STATE.substitute(
                name=state_name(index, size),
                index=index,
                size=size,
                next=state_name(index + 1, size),
                skip=state_name(index + SKIP, size),
                back=state_name(index - 1, size),
            )
        )
    return "".join(parts)


def compile_flow(size: int) -> tuple[CompiledFlow, float]:
    """The compiled flow and the time `compile_text` took, in ms; raises if validation fails."""
    text = flow_yaml(size)
    began = time.perf_counter_ns()
    flow = compile_text(text, f"<bench-{size}>")
    return flow, (time.perf_counter_ns() - began) / 1e6
