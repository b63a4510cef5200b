"""One compiled flow per flow text: the shared machine and its version hash."""

from __future__ import annotations

from flows.validation import compile_text

FLOW = """\
flow: tiny
start: a
states:
  a:
    say: Bonjour
    on:
      - data: next
        goto: b
  b: {say: Fini, end: true}
"""


def test_the_same_text_gives_the_same_compiled_flow() -> None:
    first = compile_text(FLOW, "tiny.yaml")
    assert compile_text(FLOW, "tiny.yaml") is first
    assert first.machine is compile_text(FLOW, "tiny.yaml").machine


def test_a_changed_text_is_a_new_version() -> None:
    changed = compile_text(FLOW.replace("Fini", "Terminé"), "tiny.yaml")
    assert changed.content_hash != compile_text(FLOW, "tiny.yaml").content_hash
    assert len(changed.content_hash) == 64
