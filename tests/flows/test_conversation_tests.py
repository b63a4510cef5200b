"""`causette test` files: the runner behind them, through `run_test_file`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from flows.testing import FileResult, find_test_files, run_test_file

FLOW = """
flow: order
start: ask
vars: {status: null, where: null, photo: null}
states:
  ask:
    say:
      text: "Suivre la commande {{ contact.order }} ?"
      suggestions:
        - {reply: Oui, data: track}
        - {reply: Non, data: stop}
    on:
      - data: track
        goto: fetch
      - data: stop
        goto: bye
      - location: true
        set: {where: "{{ input.location }}"}
        say: Position reçue
      - file: true
        set: {photo: "{{ input.file.url }}"}
        say: Photo reçue
      - after: 1h
        say: Toujours là ?
  fetch:
    call:
      url: "{{ env.API }}/orders/{{ contact.order }}"
      save: status
      timeout: 2s
      on_error: failed
    say: "Statut : {{ vars.status.label }}"
    end: true
  failed:
    handoff: {queue: support, say: Un conseiller prend le relais.}
  bye: {say: Au revoir, end: true}
"""


def write(folder: Path, tests: str) -> Path:
    (folder / "order.yaml").write_text(FLOW, encoding="utf-8")
    path = folder / "order.test.yaml"
    path.write_text(textwrap.dedent(tests), encoding="utf-8")
    return path


async def run(folder: Path, tests: str) -> FileResult:
    return await run_test_file(write(folder, tests))


HEADER = """\
flow: order.yaml
env: {API: "https://api.example"}
contact: {order: A42}
"""


async def test_http_answers_by_url(tmp_path: Path) -> None:
    result = await run(
        tmp_path,
        HEADER
        + """\
cases:
  - name: found
    http:
      - {url: "https://api.example/orders/A42", respond: {label: expédiée}}
    steps:
      - user: {data: track}
      - bot: "Statut : expédiée"
      - status: ended
      - vars: {status: {label: expédiée}}
  - name: backend down
    http:
      - {url: "https://api.example/orders/A42", status: 500}
    steps:
      - user: {data: track}
      - status: handed_off
  - name: timeout
    http:
      - {url: "https://api.example/orders/A42", error: timeout}
    steps:
      - user: {data: track}
      - bot: Un conseiller
  - name: no answer in the file
    steps:
      - user: {data: track}
      - state: failed
""",
    )
    assert not result.problems
    assert [c.failure for c in result.cases] == [None] * 4


@pytest.mark.parametrize("channel", ["rcs", "sms", "t2c"])
async def test_location_file_and_timer(tmp_path: Path, channel: str) -> None:
    result = await run(
        tmp_path,
        HEADER
        + f"""\
cases:
  - name: inputs
    channel: {channel}
    steps:
      - user: {{location: {{lat: 43.3, lng: 5.4}}}}
      - bot: Position reçue
      - vars: {{where: {{latitude: 43.3, longitude: 5.4}}}}
      - user: {{file: "https://img.example/boite.jpg"}}
      - vars: {{photo: "https://img.example/boite.jpg"}}
      - wait: 59m
      - wait: 2m
      - bot: Toujours là
      - state: ask
""",
    )
    assert result.cases[0].failure is None, result.cases[0].failure


async def test_a_failure_reports_the_step_the_messages_and_the_state(tmp_path: Path) -> None:
    result = await run(
        tmp_path,
        HEADER
        + """\
cases:
  - name: wrong expectation
    channel: sms
    steps:
      - bot: {regex: "^Suivre la commande A42"}
      - user: "2"
      - bot: A bientôt
""",
    )
    failure = result.cases[0].failure
    assert failure is not None
    assert (failure.step, failure.state) == (3, "bye")
    assert failure.expected == "a bot message containing 'A bientôt'"
    assert failure.actual == ["Au revoir"]
    assert (result.passed, result.failed) == (0, 1)


async def test_a_bad_test_file_is_one_failure_with_located_problems(tmp_path: Path) -> None:
    result = await run(
        tmp_path,
        """\
flow: order.yaml
cases:
  - name: bad
    steps:
      - usr: hello
      - wait: forever
""",
    )
    assert [str(p).split(": ", 1)[0].rsplit(":", 2)[1:] for p in result.problems] == [
        ["5", "9"],
        ["6", "15"],
    ]
    assert "a step needs exactly one of user, bot" in result.problems[0].message
    assert result.failed == 1


async def test_a_broken_flow_fails_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "cases:\n  - {name: x, steps: []}\n")
    (tmp_path / "order.yaml").write_text("flow: order\nstart: nowhere\nstates: {a: {end: true}}\n")
    result = await run_test_file(path)
    assert result.problems
    assert all(str(p).startswith(str(tmp_path / "order.yaml")) for p in result.problems)


def test_folders_give_only_test_files(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "cases:\n  - {name: x, steps: []}\n")
    assert find_test_files([tmp_path]) == [path]
