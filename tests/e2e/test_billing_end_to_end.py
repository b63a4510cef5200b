"""The ledger of each example flow run end to end on RCS and on SMS, as its rules predict, and
`causette billing report` on that run, in table, CSV and JSON (seed rules R12-R16, R21, R24).

The demo's agents are non-conversational (the default category), so each RCS message is
billed on its own: `rcs_basic` for a short text without suggestions, `rcs_single` otherwise
(R21), plus the agent's fee for the month (R24). On Bruno's SMS phone the bot writes from its
Time2Chat number: its first message is a `t2c_mt` (R12) unless it takes two segments (`sms_mt`
× 2, R13); Bruno's first answer opens a session (R14) that covers the short messages after it
(R15); long ones are still billed per segment (the default reading of R13 inside a session).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import textwrap
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from bots import cli
from sessions.classes import BillingClass
from sessions.events import Mo
from sessions.policy import BillingPolicy
from sessions.report import monthly_report
from store.billing_records import LedgerEntry, LedgerKind
from tests.e2e.conftest import ANA, BRUNO, Demo
from tests.e2e.test_examples_end_to_end import CHANNELS, PATHS, PHONE_NAMES, Expect

Billed = Counter[tuple[str, int]]
"""(billing class, quantity) -> how many entries."""


def billed(**classes: int) -> Billed:
    """`billed(rcs_single=2, sms_mt__2=1)`: `__N` is the quantity (segments), 1 by default."""
    counts: Billed = Counter()
    for name, count in classes.items():
        billing_class, _, quantity = name.partition("__")
        counts[billing_class, int(quantity or 1)] = count
    return counts


AGENT_FEE = {"rcs_active_agent": 1}

EXPECTED: dict[tuple[str, str], Billed] = {
    ("appointment", ANA): billed(**AGENT_FEE, rcs_single=2, rcs_basic=4),
    ("appointment", BRUNO): billed(sms_mt__2=1, t2c_session=1, covered=6),
    ("parcel", ANA): billed(**AGENT_FEE, rcs_single=4, rcs_basic=2),
    ("parcel", BRUNO): billed(t2c_mt=1, sms_mt__2=1, t2c_session=1, covered=4),
    # A media with a text is two RBM messages, billed as one entry of quantity 2.
    ("survey", ANA): billed(**AGENT_FEE, rcs_single=4, rcs_single__2=1, rcs_basic=1),
    ("survey", BRUNO): billed(t2c_mt=1, t2c_session=1, covered=5),
    ("lead", ANA): billed(**AGENT_FEE, rcs_single=4, rcs_single__2=1, rcs_basic=5),
    ("lead", BRUNO): billed(sms_mt__2=4, t2c_session=1, covered=7),
}


async def run_path(demo: Demo, bot: str, number: str) -> list[LedgerEntry]:
    """Run the flow's end-to-end path, let every receipt land, and read the ledger."""
    path = PATHS[bot, number]
    for route, answer in path.answers:
        demo.backend.script(route, answer)
    await demo.start(bot, number, CHANNELS[number])
    person = demo.person(number)
    for step in path.steps:
        await step.run(person)
    await asyncio.wait_for(asyncio.gather(demo.rbm.drain(), demo.sms.drain()), 10)
    return await demo.runtime.store.ledger()


@pytest.mark.parametrize(
    ("bot", "number"), list(EXPECTED), ids=[f"{bot}-{PHONE_NAMES[n]}" for bot, n in EXPECTED]
)
async def test_each_example_flow_yields_the_ledger_its_rules_predict(
    demo: Demo, bot: str, number: str
) -> None:
    entries = await run_path(demo, bot, number)
    assert Counter((e.billing_class, e.quantity) for e in entries) == EXPECTED[bot, number]
    messages = [e for e in entries if e.kind is LedgerKind.MESSAGE]
    # One billed unit per message the phone showed (each `Expect` reads exactly one).
    shown = [step for step in PATHS[bot, number].steps if isinstance(step, Expect)]
    units = sum(e.quantity if e.channel == "rcs" else 1 for e in messages)
    assert units == len(shown)
    for entry in entries:
        assert entry.bot_id == bot
        if entry.kind is LedgerKind.MESSAGE:
            assert entry.message_key is not None
            assert await demo.runtime.store.get_outbound(entry.message_key) is not None
            assert entry.delivered_at is not None  # its receipt stamped it
        if entry.billing_class == "covered":
            assert entry.amount == 0
            assert entry.session_id is not None


async def test_a_duplicated_reply_opens_no_second_session(demo: Demo) -> None:
    """Replays add nothing: the person's reply billed twice is one session (R14)."""
    entries = await run_path(demo, "survey", BRUNO)
    session = next(e for e in entries if e.kind is LedgerKind.SESSION)
    assert session.message_key is not None
    billing = demo.runtime.billing
    assert billing is not None
    replay = Mo(
        session.message_key,
        session.bot_id,
        session.recipient,
        session.at,
        session.channel,
        session.sender,
    )
    await billing.on_mo(replay)
    assert await demo.runtime.store.ledger() == entries


async def test_billing_report_prints_the_ledger_in_every_format(demo: Demo, tmp_path: Path) -> None:
    for bot, number in (("appointment", ANA), ("parcel", BRUNO)):
        entries = await run_path(demo, bot, number)
    month = entries[0].at.astimezone(BillingPolicy().timezone).strftime("%Y-%m")
    expected = monthly_report(entries, month, BillingPolicy())
    total = sum((e.amount for e in entries if counted(e)), Decimal(0))
    assert expected.total.amount == total
    config = tmp_path / "bots.yaml"
    flows = Path(__file__).parents[2] / "examples" / "flows"
    config.write_text(
        textwrap.dedent(
            f"""\
            store: sqlite://{demo.database}
            bots:
              - id: appointment
                flow: {flows / "appointment.yaml"}
              - id: parcel
                flow: {flows / "parcel.yaml"}
            """
        ),
        encoding="utf-8",
    )

    def report(output: str) -> str:
        result = CliRunner(env={"COLUMNS": "200"}).invoke(
            cli.main,
            ["billing", "report", "--config", str(config), "--month", month, "--format", output],
        )
        assert result.exit_code == 0, result.output
        return result.stdout

    as_json = json.loads(await asyncio.to_thread(report, "json"))
    assert Decimal(as_json["total"]["amount"]) == total
    rows = list(csv.DictReader(io.StringIO(await asyncio.to_thread(report, "csv"))))
    assert sum(Decimal(row["amount"]) for row in rows) == total
    assert {row["bot_id"] for row in rows} == {"appointment", "parcel"}
    table = await asyncio.to_thread(report, "table")
    assert f"{total:.3f}".rstrip("0") in table.replace(",", "")
    assert "sessions opened: t2c_session 1" in table


def counted(entry: LedgerEntry) -> bool:
    """Whether the default policy counts it now: RCS messages once delivered."""
    moment = BillingPolicy().moment(BillingClass(entry.billing_class))
    return moment == "submitted" or entry.delivered_at is not None
