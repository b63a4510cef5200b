"""Contract: campaigns, kept whole and changed by compare-and-set on their version."""

from __future__ import annotations

from dataclasses import replace

from store.base import Store
from store.campaigns_records import Campaign, CampaignRecipient, CampaignStatus
from tests.store import BOT, PHONES, sec


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
