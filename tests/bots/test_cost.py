"""`causette validate --cost`: typical paths played by the simulator, billed by the trackers."""

from __future__ import annotations

import json
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from bots import cli
from bots.cost import Bill, FlowCost, PathCost, billing_policy, estimate_file
from messaging.encoding import Encoding, split
from sessions.classes import BillingClass
from sessions.policy import BillingPolicy

EXAMPLES = Path(__file__).parents[2] / "examples" / "flows"
POLICY = BillingPolicy()
LONG = "Merci pour votre reponse, nous revenons vers vous tres vite. " * 3
"""Plain GSM-7, over 160 characters: two SMS segments."""

FLOW = textwrap.dedent(
    f"""\
    flow: costly
    start: ask
    states:
      ask:
        say:
          text: "On continue ?"
          suggestions:
            - reply: Oui
              data: go
        on:
          - data: go
            goto: short
      short:
        say: "Parfait."
        goto: long
      long:
        say: "{LONG.strip()}"
        end: true
    """
)


def price(billing_class: BillingClass) -> Decimal:
    return POLICY.prices.price("FR", billing_class)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli.main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def costly(tmp_path: Path) -> Path:
    path = tmp_path / "costly.yaml"
    path.write_text(FLOW, encoding="utf-8")
    return path


def only_path(cost: FlowCost) -> PathCost:
    assert cost.error is None, cost.error
    (path,) = cost.paths
    return path


def bill(part: Bill | None) -> Bill:
    assert part is not None
    return part


@pytest.mark.parametrize("name", ["appointment", "parcel", "survey", "lead"])
def test_every_example_gets_estimated_paths(name: str) -> None:
    cost = estimate_file(EXAMPLES / f"{name}.yaml", POLICY)
    assert cost.error is None
    assert cost.flow == name
    assert cost.paths
    for path in cost.paths:
        assert path.rcs is not None or path.sms is not None
        for part in (path.rcs, path.rcs_conversational, path.sms):
            if part is not None:
                assert part.states[-1] == path.ending
                assert part.total > 0
    assert any(path.rcs and path.sms for path in cost.paths)


def test_appointment_paths_are_the_shortest_to_each_ending() -> None:
    cost = estimate_file(EXAMPLES / "appointment.yaml", POLICY)
    paths = {path.ending: path for path in cost.paths}
    assert bill(paths["confirmed"].rcs).states == ("confirm", "confirmed")
    assert bill(paths["confirmed"].rcs).moves == ('tap "Je confirme"',)
    assert bill(paths["confirmed"].sms).moves == ('reply "1" (Je confirme)',)
    # No answer at all: the two 24 h timers fire, the reminder then the default.
    assert bill(paths["no_reply"].sms).moves == ("wait for the timer", "wait for the timer")
    # Moving needs the booking backend: answered with a made-up body, never called.
    assert bill(paths["moved"].rcs).backend == ("answered",)
    assert paths["human"].kind == "handoff"


def test_a_long_message_costs_sms_mt_per_segment(costly: Path) -> None:
    assert split(LONG.strip()).encoding is Encoding.GSM7
    assert split(LONG.strip()).count == 2
    sms = bill(only_path(estimate_file(costly, POLICY)).sms)
    assert sms.states == ("ask", "short", "long")
    assert sms.classes == {"t2c_mt": 1, "t2c_session": 1, "covered": 1, "sms_mt": 2}
    opened = price(BillingClass.T2C_MT) + price(BillingClass.T2C_SESSION)
    assert sms.total == opened + 2 * price(BillingClass.SMS_MT)
    assert [(m.state, m.billing_class, m.segments) for m in sms.messages] == [
        ("ask", "t2c_mt", 1),
        ("short", "covered", 1),
        ("long", "sms_mt", 2),
    ]
    assert [m.state for m in sms.long] == ["long"]


def test_rcs_classes_basic_for_short_text_single_for_suggestions(costly: Path) -> None:
    path = only_path(estimate_file(costly, POLICY))
    rcs = bill(path.rcs)
    assert [(m.state, m.billing_class) for m in rcs.messages] == [
        ("ask", "rcs_single"),  # a suggestion
        ("short", "rcs_basic"),  # short text only
        ("long", "rcs_single"),  # text over 160
    ]
    assert rcs.total == 2 * price(BillingClass.RCS_SINGLE) + price(BillingClass.RCS_BASIC)
    assert rcs.segments is None
    conversational = bill(path.rcs_conversational)
    assert conversational.total == price(BillingClass.RCS_A2P_SESSION)


def test_table_flags_the_long_message(costly: Path) -> None:
    code, out, err = run("validate", "--cost", str(costly))
    assert code == 0
    assert "costly" in out
    assert "⚠ long: 2 SMS segments" in out
    assert "0.230 ⚠" in out
    assert "0 error(s)" in err


def test_json_output_shape(costly: Path) -> None:
    code, out, _ = run("validate", "--cost", "--json", str(costly))
    assert code == 0
    data = json.loads(out)
    assert data["problems"] == []
    (cost,) = data["cost"]
    assert cost["path"] == str(costly)
    assert cost["flow"] == "costly"
    assert cost["currency"] == "EUR"
    assert cost["error"] is None
    assert cost["not_estimated"] == []
    (path,) = cost["paths"]
    assert set(path) == {"ending", "kind", "rcs", "rcs_conversational", "sms", "notes"}
    assert (path["ending"], path["kind"]) == ("long", "end")
    sms = path["sms"]
    assert sms["cost"] == "0.230"
    assert sms["segments"] == 4
    assert sms["long_messages"] == [{"state": "long", "segments": 2}]
    assert sms["classes"]["sms_mt"] == 2
    assert sms["states"] == ["ask", "short", "long"]
    assert sms["turns"] == 1
    assert path["rcs"]["messages"][1] == {
        "state": "short",
        "class": "rcs_basic",
        "segments": None,
        "amount": "0.020",
    }


def test_json_without_cost_is_unchanged(costly: Path) -> None:
    code, out, _ = run("validate", "--json", str(costly))
    assert code == 0
    assert json.loads(out) == []


def test_cost_on_a_flow_with_errors_reports_them_and_fails(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(FLOW.replace("goto: short", "goto: shrot"), encoding="utf-8")
    code, out, _ = run("validate", "--cost", str(broken))
    assert code == 1
    assert f"{broken}:" in out
    assert "unknown state 'shrot'" in out
    assert "cost not estimated: the flow has errors" in out
    code, out, _ = run("validate", "--cost", "--json", str(broken))
    assert code == 1
    data = json.loads(out)
    assert any(p["severity"] == "error" for p in data["problems"])
    assert data["cost"][0]["error"].startswith("the flow has errors")


def test_a_path_the_simulator_cannot_make_is_reported_not_estimated(tmp_path: Path) -> None:
    flow = tmp_path / "echo.yaml"
    flow.write_text(
        textwrap.dedent(
            """\
            flow: echo
            start: ask
            states:
              ask:
                say: "Écrivez deux fois le même mot."
                on:
                  - text: '(\\w+) \\1'
                    goto: done
              done: {say: "Bravo.", end: true}
            """
        ),
        encoding="utf-8",
    )
    cost = estimate_file(flow, POLICY)
    assert cost.error is None
    assert cost.paths == []
    ((ending, kind, reason),) = cost.not_estimated
    assert (ending, kind) == ("done", "end")
    assert reason == "no reply the estimate can make up leads there"
    code, out, _ = run("validate", "--cost", str(flow))
    assert code == 0
    assert "not estimated" in out


def test_prices_from_the_config_billing_section(costly: Path, tmp_path: Path) -> None:
    config = tmp_path / "bots.yaml"
    # A whole deployment: its bots' flows, and the prices of its `billing:` section.
    config.write_text(
        f'billing:\n  prices:\n    "*": {{sms_mt: 0.1}}\nbots:\n  - id: c\n    flow: {costly}\n',
        encoding="utf-8",
    )
    policy = billing_policy(config)
    sms = bill(only_path(estimate_file(costly, policy)).sms)
    opened = price(BillingClass.T2C_MT) + price(BillingClass.T2C_SESSION)
    assert sms.total == opened + Decimal("0.2")
    code, out, _ = run("validate", "--cost", "--json", "--config", str(config), str(costly))
    assert code == 0
    assert json.loads(out)["cost"][0]["paths"][0]["sms"]["cost"] == "0.340"


def test_a_bad_billing_section_is_a_usage_error(costly: Path, tmp_path: Path) -> None:
    config = tmp_path / "bots.yaml"
    config.write_text("billing:\n  currency: euros\n", encoding="utf-8")
    code, _, err = run("validate", "--cost", "--config", str(config), str(costly))
    assert code == 2
    assert "billing.currency" in err


def test_at_most_ten_paths_the_rest_named(tmp_path: Path) -> None:
    names = [f"end{i:02}" for i in range(12)]
    on = "".join(f"      - keywords: [mot{i:02}]\n        goto: {n}\n" for i, n in enumerate(names))
    ends = "".join(f"  {n}: {{say: 'Fin {n}.', end: true}}\n" for n in names)
    flow = tmp_path / "many.yaml"
    flow.write_text(
        f"flow: many\nstart: ask\nstates:\n  ask:\n    say: Choisissez.\n    on:\n{on}{ends}",
        encoding="utf-8",
    )
    cost = estimate_file(flow, POLICY)
    assert [path.ending for path in cost.paths] == names[:10]
    assert cost.notes == ["at most 10 paths: not shown end10, end11"]


def test_paths_longer_than_thirty_turns_are_not_estimated(tmp_path: Path) -> None:
    steps = "".join(
        f"  q{i}:\n    ask: {{var: v, prompt: 'Question {i} ?'}}\n    goto: q{i + 1}\n"
        for i in range(31)
    )
    flow = tmp_path / "long.yaml"
    flow.write_text(
        f"flow: chain\nstart: q0\nvars: {{v: null}}\nstates:\n{steps}"
        "  q31: {say: Fini., end: true}\n",
        encoding="utf-8",
    )
    cost = estimate_file(flow, POLICY)
    assert cost.paths == []
    ((ending, _, reason),) = cost.not_estimated
    assert ending == "q31"
    assert "within 30 turns" in reason
