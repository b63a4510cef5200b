"""`causette validate` and the sending rules: links in flows (R28), and a whole deployment
with `--config` (SenderIDs R27), every problem at its `path:line:column`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from bots import cli

EXAMPLE = Path(__file__).parents[2] / "examples" / "flows" / "appointment.yaml"
PROMO = """\
flow: promo
traffic: marketing
start: hello
states:
  hello:
    say: "Soldes ! https://bit.ly/soldes"
    end: true
"""


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner(env=env).invoke(cli.main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_a_flow_with_a_shortener_link_fails_validation(tmp_path: Path) -> None:
    flow = tmp_path / "promo.yaml"
    flow.write_text(PROMO, encoding="utf-8")
    code, out, _ = run("validate", str(flow))
    assert code == 1
    assert out.startswith(f"{flow}:6:10: states.hello.say: `https://bit.ly/soldes` goes through")
    assert "(R28)" in out


def test_a_templated_link_is_left_to_the_send_time_check(tmp_path: Path) -> None:
    flow = tmp_path / "promo.yaml"
    templated = PROMO.replace("https://bit.ly/soldes", "https://bit.ly/{{ vars.code }}")
    flow.write_text(templated.replace("start: hello", "vars: {code: a1}\nstart: hello"), "utf-8")
    code, _, _ = run("validate", str(flow))
    assert code == 0


@pytest.mark.parametrize(
    ("sender", "message"),
    [
        ("ALERTE-RDV", "`ALERTE-RDV` is not a valid SenderID"),
        ("0612345678", "`0612345678`"),
    ],
)
def test_a_deployment_with_a_bad_sender_id_is_refused(
    tmp_path: Path, sender: str, message: str
) -> None:
    config = tmp_path / "bots.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            providers:
              smsmode: {{api_key_env: KEY, callback_secret_env: SECRET}}
            bots:
              - id: rdv
                flow: {EXAMPLE}
                sms: {{sender: "{sender}"}}
            """
        ),
        encoding="utf-8",
    )
    code, out, _ = run("validate", "--config", str(config), env={"KEY": "k", "SECRET": "s"})
    assert code == 1
    (line,) = [line for line in out.splitlines() if "sms.sender" in line]
    assert line.startswith(f"{config}:6:19: bots[0].sms.sender: {message}")
    assert "(R27)" in line


def test_a_deployment_checks_its_flows_with_its_url_policy(tmp_path: Path) -> None:
    flow = tmp_path / "promo.yaml"
    flow.write_text(PROMO.replace("https://bit.ly/soldes", "https://autre.fr/soldes"), "utf-8")
    config = tmp_path / "bots.yaml"
    config.write_text(
        textwrap.dedent(
            """\
            compliance:
              urls: {allowed_domains: [cabinet-du-prado.fr]}
            bots:
              - id: promo
                flow: promo.yaml
            """
        ),
        encoding="utf-8",
    )
    code, out, _ = run("validate", "--config", str(config))
    assert code == 1
    assert f"{flow}:6:10: states.hello.say: `https://autre.fr/soldes`" in out
    code, _, _ = run("validate")
    assert code == 2
