"""Contract: the admin API's bearer tokens (kept by hash, scoped per bot, revocable)."""

from __future__ import annotations

from dataclasses import replace

from store.base import Store
from store.tokens_records import ALL_BOTS, ApiToken
from tests.store import T0, StoreFactory, sec


def token(token_id: str = "tok-1", **changes: object) -> ApiToken:
    record = ApiToken(token_id, "crm", f"hash-of-{token_id}", ("rdv", "colis"), T0)
    return replace(record, **changes)  # type: ignore[arg-type]


async def test_an_unknown_hash_is_none(store: Store) -> None:
    assert await store.token_by_hash("nope") is None
    assert await store.list_tokens() == []


async def test_a_saved_token_is_found_by_its_hash(store: Store) -> None:
    await store.save_token(token())
    assert await store.token_by_hash("hash-of-tok-1") == token()
    assert await store.token_by_hash("hash-of-tok-2") is None


async def test_tokens_are_listed_oldest_first(store: Store) -> None:
    later = token("tok-0", created_at=sec(5), scopes=(ALL_BOTS,), name="")
    await store.save_token(later)
    await store.save_token(token("tok-2"))
    await store.save_token(token("tok-1"))
    assert [t.id for t in await store.list_tokens()] == ["tok-1", "tok-2", "tok-0"]
    assert (await store.list_tokens())[-1] == later


async def test_a_token_is_revoked_once(store: Store) -> None:
    await store.save_token(token())
    assert await store.revoke_token("tok-1", sec(3))
    assert not await store.revoke_token("tok-1", sec(9))  # the first time stays
    assert not await store.revoke_token("unknown", sec(3))
    revoked = token(revoked_at=sec(3))
    assert await store.token_by_hash("hash-of-tok-1") == revoked  # still found: refused as revoked
    assert await store.list_tokens() == [revoked]


async def test_tokens_outlive_the_process_that_saved_them(backing: StoreFactory) -> None:
    async with backing() as first:
        await first.save_token(token())
    async with backing() as second:
        assert await second.token_by_hash("hash-of-tok-1") == token()
