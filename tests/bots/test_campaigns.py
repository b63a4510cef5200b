"""Campaigns run (bots/campaigns_runner.py) on the fake clock: each recipient started once (R5),
at the campaign's pace, in input order; pause, resume and cancel between batches; a runner
killed between its starts and their marks replaced without anyone started twice; opt-outs
(R25), the red list (R6) and the marketing hours (sms.md §3.3) applied and counted."""

# ruff: noqa: F811 (the runtime fixtures of tests/runtime/conftest.py, imported by name)
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bots.campaigns import run_campaigns, run_due_campaigns, set_status
from bots.campaigns_csv import csv_rows
from bots.campaigns_import import BadRow, Row, create_campaign, list_rows
from bots.campaigns_progress import progress
from bots.campaigns_runner import LEASE, CampaignRunner, SendingRules
from bots.outbox import RecordingSender
from bots.runtime import Runtime
from compliance.gate import GatePolicy
from messaging.clock import FakeClock
from store.campaigns_records import Campaign, CampaignRecipient, CampaignStatus, RecipientState
from store.compliance_records import OptOut, RedListed
from store.contacts_records import Contact
from tests.runtime.conftest import (  # noqa: F401 (fixtures)
    FLOW,
    RuntimeFactory,
    clock,
    db_path,
    flow_file,
    make_runtime,
    sender,
)

PHONES = tuple(f"+336123456{n:02d}" for n in range(20))
RULES = {"rdv": SendingRules("cabinet", GatePolicy())}


def rows(count: int, **variables: str) -> list[Row]:
    return [CampaignRecipient(PHONES[n], variables, n + 2) for n in range(count)]


class Recorder:
    """The runtime's starts (phone and fake time), and a fake `sleep` that moves the clock and
    may act after a given number of starts."""

    def __init__(self, runtime: Runtime, clock: FakeClock) -> None:
        self.clock = clock
        self.starts: list[tuple[str, datetime, dict[str, Any]]] = []
        self.after: tuple[int, Callable[[], Awaitable[None]]] | None = None
        start = runtime.start_conversation

        async def recording(bot_id: str, phone: str, **options: Any) -> Any:
            self.starts.append((phone, clock.now(), dict(options.get("variables") or {})))
            return await start(bot_id, phone, **options)

        runtime.start_conversation = recording  # type: ignore[method-assign]

    async def sleep(self, seconds: float) -> None:
        self.clock.advance(timedelta(seconds=seconds))
        if self.after is not None and len(self.starts) >= self.after[0]:
            action, self.after = self.after[1], None
            await action()

    @property
    def phones(self) -> list[str]:
        return [phone for phone, _, _ in self.starts]


async def _open(make_runtime: RuntimeFactory, flow_file: Path, *, marketing: bool) -> Runtime:
    if marketing:
        flow_file.write_text("traffic: marketing\n" + FLOW, encoding="utf-8")
    runtime = make_runtime()
    await runtime.open()
    return runtime


async def _create(
    runtime: Runtime, source: list[Row], rate: float | None = None, **options: Any
) -> Campaign:
    return await create_campaign(
        runtime.store,
        campaign_id="soldes",
        bot_id="rdv",
        rows=source,
        now=runtime.clock.now(),
        rate=rate,
        **options,
    )


def _runner(runtime: Runtime, recorder: Recorder, owner: str = "runner-1") -> CampaignRunner:
    return CampaignRunner(runtime, RULES, owner=owner, sleep=recorder.sleep)


async def _counts(runtime: Runtime) -> dict[str, Any]:
    found = await progress(runtime.store, "soldes", runtime.clock.now())
    assert found is not None
    data = found.as_json()
    keys = ("status", "total", "pending", "started", "opted_out", "red_listed", "merged")
    return {key: data[key] for key in (*keys, "invalid")}


def _sent_once(sender: RecordingSender, phones: list[str]) -> None:
    """Each phone got the flow's first message exactly once."""
    firsts = [entry.phone for entry in sender.sent]
    assert sorted(firsts) == sorted(phones)


async def test_a_campaign_starts_at_its_pace_with_each_rows_variables(
    make_runtime: RuntimeFactory, clock: FakeClock, flow_file: Path, sender: RecordingSender
) -> None:
    runtime = await _open(make_runtime, flow_file, marketing=False)
    recorder = Recorder(runtime, clock)
    source = rows(5)
    source[1] = CampaignRecipient(PHONES[1], {"remise": "30 %", "prenom": "Zoé"}, 3)
    await _create(runtime, source, rate=2.0, variables={"remise": "20 %"})
    t0 = clock.now()
    done = await _runner(runtime, recorder).run("soldes")
    assert done is not None
    assert done.status is CampaignStatus.DONE
    # 2 per second of the clock: one every half second, in input order.
    assert [(at - t0).total_seconds() for _, at, _ in recorder.starts] == [0, 0.5, 1, 1.5, 2]
    assert recorder.phones == list(PHONES[:5])
    assert recorder.starts[0][2] == {"remise": "20 %"}
    assert recorder.starts[1][2] == {"remise": "30 %", "prenom": "Zoé"}  # the row's own win
    await runtime.run_until_idle()
    _sent_once(sender, list(PHONES[:5]))
    assert (await _counts(runtime))["started"] == 5
    assert done.started == 5
    assert done.runner is None


async def test_pause_stops_between_batches_and_resume_goes_on_from_the_cursor(
    make_runtime: RuntimeFactory, clock: FakeClock, flow_file: Path, sender: RecordingSender
) -> None:
    runtime = await _open(make_runtime, flow_file, marketing=False)
    recorder = Recorder(runtime, clock)
    await _create(runtime, rows(10), rate=2.0)  # batches of 2

    async def pause() -> None:
        await set_status(runtime.store, "soldes", "pause", clock.now())

    recorder.after = (3, pause)
    paused = await _runner(runtime, recorder).run("soldes")
    assert paused is not None
    assert paused.status is CampaignStatus.PAUSED
    assert recorder.phones == list(PHONES[:4])  # the batch under way ended
    assert (await _counts(runtime))["pending"] == 6
    # Paused: nobody more, even for another runner.
    assert await _runner(runtime, recorder, "runner-2").run("soldes") is None
    await set_status(runtime.store, "soldes", "resume", clock.now())
    done = await _runner(runtime, recorder, "runner-2").run("soldes")
    assert done is not None
    assert done.status is CampaignStatus.DONE
    assert recorder.phones == list(PHONES[:10])  # from the cursor, nobody twice
    assert done.cursor == 11  # the last row's line
    await runtime.run_until_idle()
    _sent_once(sender, list(PHONES[:10]))


async def test_cancel_stops_a_running_campaign_for_good(
    make_runtime: RuntimeFactory, clock: FakeClock, flow_file: Path
) -> None:
    runtime = await _open(make_runtime, flow_file, marketing=False)
    recorder = Recorder(runtime, clock)
    await _create(runtime, rows(6), rate=2.0)

    async def cancel() -> None:
        await set_status(runtime.store, "soldes", "cancel", clock.now())

    recorder.after = (1, cancel)
    cancelled = await _runner(runtime, recorder).run("soldes")
    assert cancelled is not None
    assert cancelled.status is CampaignStatus.CANCELLED
    assert recorder.phones == list(PHONES[:2])
    with pytest.raises(ValueError, match="cancelled: cannot resume"):
        await set_status(runtime.store, "soldes", "resume", clock.now())
    assert await run_due_campaigns(_runner(runtime, recorder, "runner-2")) == 0
    assert recorder.phones == list(PHONES[:2])


async def test_a_runner_killed_before_marking_its_batch_is_replaced_without_duplicates(
    make_runtime: RuntimeFactory, clock: FakeClock, flow_file: Path, sender: RecordingSender
) -> None:
    """kill -9 between the inbox appends and the recipients' marks: the batch is still
    pending; the next runner (once the dead one's lease expired) appends again, the inbox
    keeps each key once, and they count as started."""
    runtime = await _open(make_runtime, flow_file, marketing=False)
    recorder = Recorder(runtime, clock)
    await _create(runtime, rows(6), rate=2.0)
    store = runtime.store
    mark = store.mark_campaign_recipients

    async def killed(*_: Any) -> int:
        raise RuntimeError("kill -9")

    store.mark_campaign_recipients = killed  # type: ignore[method-assign,assignment]
    with pytest.raises(RuntimeError, match="kill -9"):
        await _runner(runtime, recorder).run("soldes")
    store.mark_campaign_recipients = mark  # type: ignore[method-assign]
    assert recorder.phones == list(PHONES[:2])
    assert (await _counts(runtime))["pending"] == 6
    # Its lease holds the campaign until it expires: one runner at a time.
    assert await _runner(runtime, recorder, "runner-2").run("soldes") is None
    clock.advance(LEASE)
    done = await _runner(runtime, recorder, "runner-2").run("soldes")
    assert done is not None
    assert done.status is CampaignStatus.DONE
    counts = await _counts(runtime)
    assert (counts["started"], counts["pending"]) == (6, 0)
    await runtime.run_until_idle()
    _sent_once(sender, list(PHONES[:6]))  # the two appended twice started once


async def test_opted_out_red_listed_invalid_and_merged_are_counted(
    make_runtime: RuntimeFactory, clock: FakeClock, flow_file: Path, sender: RecordingSender
) -> None:
    runtime = await _open(make_runtime, flow_file, marketing=True)
    store, now = runtime.store, clock.now()
    await store.set_opt_out(OptOut("cabinet", PHONES[1], True, now, "sms"))
    await store.set_opt_out(OptOut("autre", PHONES[2], True, now, "sms"))  # another business
    await store.red_list_add(RedListed("cabinet", PHONES[3], now, "demande"))
    text = "telephone;prenom\n" + "".join(
        f"{phone.replace('+33', '0')};P{n}\n" for n, phone in enumerate(PHONES[:5])
    )
    text += "06 12 34 56 00;Doublon\npas un numéro;X\n;Y\nun;deux;trois\n"
    source = list(csv_rows(text.splitlines(keepends=True), "clients.csv"))
    bad = [row.problem for row in source if isinstance(row, BadRow)]
    assert bad == [
        "clients.csv:8: phone: 'pas un numéro' is not a valid phone number",
        "clients.csv:9: phone: empty",
        "clients.csv:10: 3 cells where the header has 2",
    ]
    created = await _create(runtime, source)
    assert (created.status, created.total, created.merged, created.invalid) == (
        CampaignStatus.SCHEDULED,
        5,
        1,
        3,
    )
    assert created.problems == tuple(bad)
    recorder = Recorder(runtime, clock)
    assert await run_due_campaigns(_runner(runtime, recorder)) == 1
    assert recorder.phones == [PHONES[0], PHONES[2], PHONES[4]]
    assert recorder.starts[0][2] == {"prenom": "P0"}  # the first of a merged number wins
    assert await _counts(runtime) == {
        "status": "done",
        "total": 5,
        "pending": 0,
        "started": 3,
        "opted_out": 1,
        "red_listed": 1,
        "merged": 1,
        "invalid": 3,
    }


async def test_an_opt_out_does_not_hold_back_transactional_campaigns(
    make_runtime: RuntimeFactory, clock: FakeClock, flow_file: Path
) -> None:
    """R25 stops marketing; an appointment reminder still goes. The red list stops all (R6)."""
    runtime = await _open(make_runtime, flow_file, marketing=False)
    now = clock.now()
    await runtime.store.set_opt_out(OptOut("cabinet", PHONES[0], True, now, "sms"))
    await runtime.store.red_list_add(RedListed("cabinet", PHONES[1], now, "demande"))
    await _create(runtime, rows(3))
    recorder = Recorder(runtime, clock)
    await _runner(runtime, recorder).run("soldes")
    assert recorder.phones == [PHONES[0], PHONES[2]]


async def test_marketing_waits_for_its_hours_and_says_until_when(
    make_runtime: RuntimeFactory, clock: FakeClock, flow_file: Path
) -> None:
    runtime = await _open(make_runtime, flow_file, marketing=True)
    clock.set(datetime(2026, 12, 5, 18, 59, 59, tzinfo=UTC))  # Saturday 19:59:59 in Paris
    await _create(runtime, rows(3), rate=1.0)
    recorder = Recorder(runtime, clock)
    seen: list[Any] = []

    async def look() -> None:
        found = await progress(runtime.store, "soldes", clock.now())
        assert found is not None
        seen.append((found.campaign.waiting_until, found.eta, found.pending))
        recorder.after = (1, look)  # at every sleep from then on

    recorder.after = (1, look)
    done = await _runner(runtime, recorder).run("soldes")
    assert done is not None
    assert done.status is CampaignStatus.DONE
    monday = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)  # Monday 08:00 in Paris
    assert [at for _, at, _ in recorder.starts] == [
        datetime(2026, 12, 5, 18, 59, 59, tzinfo=UTC),
        monday,
        monday + timedelta(seconds=1),
    ]
    # While it waits, its progress says until when, and when it should be done.
    assert (monday, monday + timedelta(seconds=2), 2) in seen
    assert done.waiting_until is None


async def test_a_list_campaign_reads_the_list_by_pages(
    make_runtime: RuntimeFactory, clock: FakeClock, flow_file: Path, sender: RecordingSender
) -> None:
    runtime = await _open(make_runtime, flow_file, marketing=False)
    now = clock.now()
    people = [Contact(phone, {}, now, now) for phone in PHONES[:5]]
    await runtime.store.upsert_contacts(people, "clients")
    source = [row async for row in list_rows(runtime.store, "clients", page=2)]
    assert [r.phone for r in source if isinstance(r, CampaignRecipient)] == list(PHONES[:5])
    created = await create_campaign(
        runtime.store,
        campaign_id="soldes",
        bot_id="rdv",
        rows=list_rows(runtime.store, "clients", page=2),
        now=now,
        list_name="clients",
    )
    assert created.total == 5
    recorder = Recorder(runtime, clock)
    await _runner(runtime, recorder).run("soldes")
    await runtime.run_until_idle()
    _sent_once(sender, list(PHONES[:5]))


async def test_a_half_imported_campaign_sends_nothing_and_starts_again_cleanly(
    make_runtime: RuntimeFactory, clock: FakeClock, flow_file: Path
) -> None:
    runtime = await _open(make_runtime, flow_file, marketing=False)

    def crashing() -> Any:
        yield from rows(3)
        raise RuntimeError("crash mid-import")

    with pytest.raises(RuntimeError):
        await _create(runtime, crashing())
    # Its first batch is not even written; whatever is, it is `importing`: nobody starts.
    stored = await runtime.store.get_campaign("soldes")
    assert stored is not None
    assert stored.status is CampaignStatus.IMPORTING
    recorder = Recorder(runtime, clock)
    assert await _runner(runtime, recorder).run("soldes") is None
    again = await _create(runtime, rows(4))
    assert (again.status, again.total, again.merged) == (CampaignStatus.SCHEDULED, 4, 0)
    with pytest.raises(Exception, match="exists already"):
        await _create(runtime, rows(4))
    await _runner(runtime, recorder).run("soldes")
    assert recorder.phones == list(PHONES[:4])


async def test_a_version_9_campaign_runs_from_its_own_recipients(
    make_runtime: RuntimeFactory, clock: FakeClock, flow_file: Path, sender: RecordingSender
) -> None:
    runtime = await _open(make_runtime, flow_file, marketing=False)
    now = clock.now()
    legacy = Campaign(
        "soldes",
        "rdv",
        None,
        (
            CampaignRecipient("06 12 34 56 00", {"prenom": "Zoé"}),
            CampaignRecipient("+33612345600", {"prenom": "Zoe"}),
            CampaignRecipient("pas un numéro", {}),
            CampaignRecipient("06 12 34 56 01", {}),
        ),
        {},
        now,
        60.0,
        CampaignStatus.SCHEDULED,
        now,
        now,
    )
    assert await runtime.store.save_campaign(legacy)
    recorder = Recorder(runtime, clock)
    assert await run_due_campaigns(_runner(runtime, recorder)) == 1
    assert recorder.phones == list(PHONES[:2])
    assert [at - now for _, at, _ in recorder.starts] == [timedelta(0), timedelta(seconds=1)]
    counts = await _counts(runtime)
    assert (counts["started"], counts["merged"], counts["invalid"]) == (2, 1, 1)


async def test_a_version_9_list_campaign_reads_its_list_when_it_first_runs(
    make_runtime: RuntimeFactory, clock: FakeClock, flow_file: Path
) -> None:
    runtime = await _open(make_runtime, flow_file, marketing=False)
    now = clock.now()
    people = [Contact(phone, {}, now, now) for phone in PHONES[:3]]
    await runtime.store.upsert_contacts(people, "clients")
    legacy = Campaign(
        "soldes", "rdv", "clients", (), {}, now, None, CampaignStatus.SCHEDULED, now, now
    )
    assert await runtime.store.save_campaign(legacy)
    recorder = Recorder(runtime, clock)
    assert await run_due_campaigns(_runner(runtime, recorder)) == 1
    assert recorder.phones == list(PHONES[:3])
    assert (await _counts(runtime))["total"] == 3


async def test_serve_runs_each_due_campaign_in_a_task_of_its_own(
    make_runtime: RuntimeFactory, clock: FakeClock, flow_file: Path
) -> None:
    """`causette serve`'s loop (bots/campaigns.py `run_campaigns`): both due campaigns run,
    a later one waits; at stop the loop ends."""
    runtime = await _open(make_runtime, flow_file, marketing=False)
    store, now = runtime.store, clock.now()
    for name, phones in (("a", PHONES[:2]), ("b", PHONES[2:5])):
        source = [CampaignRecipient(p, {}, n) for n, p in enumerate(phones, 1)]
        await create_campaign(store, campaign_id=name, bot_id="rdv", rows=source, now=now)
    later = [CampaignRecipient(PHONES[9], {}, 1)]
    send_at = now + timedelta(hours=1)
    await create_campaign(
        store, campaign_id="c", bot_id="rdv", rows=later, now=now, send_at=send_at
    )
    stop = asyncio.Event()
    loop = asyncio.create_task(run_campaigns(runtime, RULES, stop, period=timedelta(0)))
    statuses: list[CampaignStatus | None] = []
    while statuses != [CampaignStatus.DONE, CampaignStatus.DONE, CampaignStatus.SCHEDULED]:
        await asyncio.sleep(0)  # let the loop and its tasks run; no time passes
        statuses = [(c.status if c else None) for c in [await store.get_campaign(i) for i in "abc"]]
    stop.set()
    await loop
    assert (await store.campaign_counts("b"))[RecipientState.STARTED] == 3
