"""The `causette` command line, through click's runner: exit codes and exact output."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from bots import cli

FLOW = textwrap.dedent(
    """\
    flow: demo
    start: ask
    vars: {name: null}
    states:
      ask:
        say:
          text: "Bonjour {{ contact.first_name }} ! On continue ?"
          suggestions:
            - reply: Oui
              data: yes_please
            - reply: Annuler
              data: cancel
        on:
          - data: yes_please
            goto: done
          - data: cancel
            goto: cancelled
        otherwise:
          say: "Répondez Oui ou Annuler."
      done: {say: "Parfait.", end: true}
      cancelled: {say: "C'est annulé.", end: true}
    """
)

TESTS = textwrap.dedent(
    """\
    flow: demo.yaml
    contact: {first_name: Ana}
    cases:
      - name: by chip
        steps:
          - bot: Bonjour Ana
          - user: {data: yes_please}
          - bot: Parfait
          - status: ended
      - name: by number on SMS
        channel: sms
        steps:
          - bot: "2 Annuler"
          - user: "2"
          - state: cancelled
      - name: by label with other case on SMS
        channel: sms
        steps:
          - user: ANNULER
          - state: cancelled
    """
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "demo.yaml").write_text(FLOW, encoding="utf-8")
    (tmp_path / "demo.test.yaml").write_text(TESTS, encoding="utf-8")
    return tmp_path


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.main, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_help_on_every_command() -> None:
    for command in ([], ["validate"], ["chat"], ["test"], ["graph"]):
        code, out, _ = run(*command, "--help")
        assert code == 0
        assert "Usage:" in out


def test_validate_a_good_flow_exits_0(project: Path) -> None:
    code, out, err = run("validate", str(project / "demo.yaml"))
    assert code == 0
    assert out == ""
    assert "0 error(s)" in err


def test_validate_five_mistakes_gives_five_located_lines(tmp_path: Path) -> None:
    broken = FLOW.replace("goto: done", "goto: dnoe")  # unknown state
    broken = broken.replace("otherwise:", "otherwize:")  # unknown key
    broken = broken.replace("start: ask", "start: ask\ntraffic: promo")  # bad traffic value
    broken = broken.replace("- data: cancel\n", "- data: cancel\n        after: soon\n")
    broken = broken.replace("Parfait.", "{{ vars.name ")  # template syntax error
    path = tmp_path / "broken.yaml"
    path.write_text(broken, encoding="utf-8")
    code, out, _ = run("validate", str(path))
    lines = out.splitlines()
    assert code == 1
    assert len(lines) == 5, out
    assert all(line.startswith(f"{path}:") for line in lines)


def test_validate_json(project: Path) -> None:
    (project / "bad.yaml").write_text("flow: x\nstates: {}\n", encoding="utf-8")
    code, out, _ = run("validate", "--json", str(project / "bad.yaml"))
    assert code == 1
    problems = json.loads(out)
    assert {"path", "line", "column", "severity", "message"} <= set(problems[0])


def test_test_command_last_line(project: Path) -> None:
    code, out, _ = run("test", str(project / "demo.test.yaml"))
    assert code == 0, out
    assert out.splitlines()[-1] == "3 passed, 0 failed"


def test_a_failing_case_shows_expected_actual_and_state(project: Path) -> None:
    failing = TESTS.replace("- bot: Parfait", "- bot: Formidable")
    (project / "demo.test.yaml").write_text(failing, encoding="utf-8")
    code, out, _ = run("test", str(project))
    assert code == 1
    assert "step 3: expected a bot message containing 'Formidable'" in out
    assert "| Parfait." in out
    assert "state: done" in out
    assert out.splitlines()[-1] == "2 passed, 1 failed"


def test_graph_mermaid(project: Path) -> None:
    code, out, _ = run("graph", str(project / "demo.yaml"))
    assert code == 0
    assert out.startswith("stateDiagram-v2\n")
    assert "ask --> done: data∶ yes_please" in out


def test_graph_svg_without_graphviz_names_the_package(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    code, _, err = run("graph", "--format", "svg", str(project / "demo.yaml"))
    assert code == 1
    assert "graphviz" in err


def test_chat_over_sms_reads_a_number(project: Path) -> None:
    code, out, _ = run(
        "chat",
        str(project / "demo.yaml"),
        "--channel",
        "sms",
        "--contact",
        "first_name=Ana",
        stdin="2\n",
    )
    assert code == 0
    assert "2 Annuler" in out
    assert "C'est annulé." in out
    assert "conversation ended" in out


def test_chat_commands(project: Path) -> None:
    code, out, _ = run(
        "chat",
        str(project / "demo.yaml"),
        "--contact",
        "first_name=Ana",
        stdin="/state\n/wait 2h\n/nope\n/data yes_please\n",
    )
    assert code == 0
    assert "state: ask" in out
    assert "unknown or incomplete command '/nope'" in out
    assert "Parfait." in out


def test_chat_bad_pair_is_a_usage_error(project: Path) -> None:
    code, _, err = run("chat", str(project / "demo.yaml"), "--var", "novalue")
    assert code == 2
    assert "'novalue' is not KEY=VALUE" in err


def test_graph_svg_pipes_dot_source_to_graphviz(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in `dot` that records its input proves the call without Graphviz installed.
    received = tmp_path / "received.dot"
    fake = tmp_path / "bin" / "dot"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\ncat > "{received}"\necho "<svg>$1</svg>"\n', encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    code, out, _ = run("graph", "--format", "svg", str(project / "demo.yaml"))
    assert code == 0
    assert out == "<svg>-Tsvg</svg>\n"
    assert received.read_text(encoding="utf-8").startswith('digraph "demo" {')
