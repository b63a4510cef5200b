"""Contract: campaigns, kept whole and changed by compare-and-set on their version; their
recipients, one row per number (R5), paged by state in input order, counted, erased (R34)."""

from __future__ import annotations

from dataclasses import replace

from store.base import Store
from store.campaigns_records import Campaign, CampaignRecipient, CampaignStatus, RecipientState
from store.contacts_records import Contact
from tests.store import BOT, PHONES, T0, sec


def campaign(campaign_id: str = "soldes", at: int = 0, **changes: object) -> Campaign:
    made = Campaign(
        id=campaign_id,
        bot_id=BOT,
        list_name=None,
        recipients=(
            CampaignRecipient(PHONES[0], {"prenom": "Zoé"}),
            CampaignRecipient("06 12 34 56 01", {}),
        ),
        vars={"remise": "20 %", "rang": 3},
        send_at=sec(3600),
        per_minute=30.0,
        status=CampaignStatus.SCHEDULED,
        created_at=sec(at),
        updated_at=sec(at),
    )
    return replace(made, **changes)  # type: ignore[arg-type]


async def test_an_empty_store_has_no_campaign(store: Store) -> None:
    assert await store.get_campaign("soldes") is None
    assert await store.list_campaigns() == []


async def test_a_campaign_is_kept_whole_once(store: Store) -> None:
    first = campaign()
    assert await store.save_campaign(first)
    assert await store.get_campaign("soldes") == first
    assert not await store.save_campaign(campaign(list_name="clients"))  # the id exists
    assert await store.get_campaign("soldes") == first
    by_list = campaign("rentree", at=5, list_name="clients", recipients=(), per_minute=None)
    assert await store.save_campaign(by_list)
    assert await store.list_campaigns() == [first, by_list]


async def test_campaigns_are_listed_oldest_first(store: Store) -> None:
    for name, at in (("b", 10), ("c", 0), ("a", 10)):
        assert await store.save_campaign(campaign(name, at))
    assert [c.id for c in await store.list_campaigns()] == ["c", "a", "b"]


async def test_an_update_takes_the_next_version(store: Store) -> None:
    stored = campaign()
    assert await store.save_campaign(stored)
    done = replace(
        stored,
        status=CampaignStatus.DONE,
        started=2,
        merged=1,
        invalid=1,
        version=2,
        updated_at=sec(60),
    )
    assert await store.update_campaign(done)
    assert await store.get_campaign("soldes") == done
    # A writer that read version 1 lost the race: nothing written.
    assert not await store.update_campaign(replace(stored, status=CampaignStatus.PAUSED, version=2))
    assert not await store.update_campaign(replace(done, version=5))
    assert await store.get_campaign("soldes") == done
    assert not await store.update_campaign(campaign("inconnue", version=2))
    assert await store.get_campaign("inconnue") is None


def row(phone: str, seq: int, **variables: str) -> CampaignRecipient:
    return CampaignRecipient(phone, variables, seq)


async def test_the_runner_fields_round_trip(store: Store) -> None:
    stored = campaign(
        list_name="clients",
        recipients=(),
        per_minute=None,
        rate=500.0,
        total=3,
        problems=("f.csv:4: phone: empty",),
        runner="host:12",
        lease_until=sec(30),
        cursor=7,
        waiting_until=sec(3600),
        status=CampaignStatus.RUNNING,
    )
    assert await store.save_campaign(stored)
    assert await store.get_campaign("soldes") == stored
    assert stored.pace == 500.0
    assert campaign().pace == 0.5  # a version 9 campaign's per_minute


async def test_recipients_are_kept_once_per_number_the_first_one_winning(store: Store) -> None:
    """R5: a number given twice, in one batch or across batches, is kept as first given."""
    batch = [row(PHONES[0], 2, prenom="Zoé"), row(PHONES[1], 3), row(PHONES[0], 4, prenom="Z")]
    assert await store.add_campaign_recipients("soldes", batch) == 2
    assert (
        await store.add_campaign_recipients("soldes", [row(PHONES[1], 5), row(PHONES[2], 6)]) == 1
    )
    assert await store.add_campaign_recipients("soldes", []) == 0
    assert await store.add_campaign_recipients("autre", [row(PHONES[0], 2)]) == 1  # its own
    assert await store.campaign_recipients("soldes") == [
        row(PHONES[0], 2, prenom="Zoé"),
        row(PHONES[1], 3),
        row(PHONES[2], 6),
    ]


async def test_pending_recipients_are_paged_in_input_order_and_counted(store: Store) -> None:
    rows = [row(PHONES[n], 10 - n) for n in range(6)]  # seq 10 .. 5
    assert await store.add_campaign_recipients("soldes", rows) == 6
    pending = RecipientState.PENDING
    first = await store.campaign_recipients("soldes", state=pending, limit=2)
    assert [r.seq for r in first] == [5, 6]
    marks = {PHONES[5]: RecipientState.STARTED, PHONES[4]: RecipientState.OPTED_OUT}
    assert await store.mark_campaign_recipients("soldes", marks) == 2
    assert await store.mark_campaign_recipients("soldes", {PHONES[9]: pending}) == 0
    nxt = await store.campaign_recipients("soldes", state=pending, limit=2)
    assert [(r.seq, r.state) for r in nxt] == [(7, pending), (8, pending)]
    assert [r.seq for r in await store.campaign_recipients("soldes", after=8)] == [9, 10]
    started = await store.campaign_recipients("soldes", state=RecipientState.STARTED)
    assert started == [replace(row(PHONES[5], 5), state=RecipientState.STARTED)]
    assert await store.mark_campaign_recipients("soldes", {PHONES[3]: RecipientState.RED_LISTED})
    assert await store.campaign_counts("soldes") == {
        RecipientState.PENDING: 3,
        RecipientState.STARTED: 1,
        RecipientState.OPTED_OUT: 1,
        RecipientState.RED_LISTED: 1,
    }
    assert await store.campaign_counts("autre") == dict.fromkeys(RecipientState, 0)
    assert await store.delete_campaign_recipients("soldes") == 6
    assert await store.campaign_recipients("soldes") == []


async def test_a_list_is_read_a_page_at_a_time(store: Store) -> None:
    people = [Contact(phone, {}, T0, T0) for phone in reversed(PHONES[:5])]
    await store.upsert_contacts(people, "clients")
    await store.upsert_contacts([Contact(PHONES[7], {}, T0, T0)], "autres")
    assert await store.list_phones("clients", limit=2) == list(PHONES[:2])
    assert await store.list_phones("clients", PHONES[1], limit=2) == list(PHONES[2:4])
    assert await store.list_phones("clients", PHONES[3]) == [PHONES[4]]
    assert await store.list_phones("personne") == []


async def test_erasure_removes_the_persons_campaign_rows(store: Store) -> None:
    """R34: a person erased leaves no campaign recipient row behind."""
    rows = [row(PHONES[0], 1), row(PHONES[1], 2)]
    assert await store.add_campaign_recipients("soldes", rows) == 2
    assert await store.add_campaign_recipients("autre", rows[:1]) == 1
    counts = await store.erase_phone(PHONES[0], "hash:0")
    assert counts["campaign_recipients"] == 2
    assert await store.campaign_recipients("soldes") == [rows[1]]
    assert await store.campaign_recipients("autre") == []
