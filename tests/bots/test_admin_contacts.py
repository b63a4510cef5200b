"""The admin API's address book, red list, opt-outs and erasure (R6, R25, R34): who may read
what (a bot's token its business's lists; the address book and erasure need `*`), pages, and
erasure by the same code path as `causette contacts erase`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest

from compliance.erasure import hashed_phone
from store.compliance_records import OptOut
from store.contacts_records import Contact
from tests.bots.admin_client import NOW, PHONE, SALT, Api, ClientFactory, error_of, make_api

PHONES = [f"+3361234560{n}" for n in range(4)]


@pytest.fixture
async def api(aiohttp_client: ClientFactory, tmp_path: Path) -> AsyncIterator[Api]:
    api = await make_api(aiohttp_client, tmp_path)
    yield api
    await api.runtime.close()


async def test_the_address_book_is_paged_by_number_for_a_token_of_every_bot(api: Api) -> None:
    store = api.runtime.store
    await store.upsert_contacts([Contact(p, {"n": p[-1]}, NOW, NOW) for p in PHONES[:3]], "vip")
    await store.upsert_contacts([Contact(PHONES[3], {}, NOW, NOW)])
    status, page = await api.call("GET", "/v1/contacts?limit=2", token=api.everything)
    assert status == 200
    assert [c["phone"] for c in page["contacts"]] == PHONES[:2]
    assert page["contacts"][0]["fields"] == {"n": "0"}
    cursor = page["next_cursor"]
    _, rest = await api.call("GET", f"/v1/contacts?cursor={cursor}", token=api.everything)
    assert ([c["phone"] for c in rest["contacts"]], rest["next_cursor"]) == (PHONES[2:], None)
    _, vip = await api.call("GET", "/v1/contacts?list=vip", token=api.everything)
    assert [c["phone"] for c in vip["contacts"]] == PHONES[:3]
    assert await api.call("GET", "/v1/lists", token=api.everything) == (200, {"lists": {"vip": 3}})
    status, one = await api.call("GET", f"/v1/contacts/{quote(PHONES[1])}", token=api.everything)
    assert (status, one["phone"]) == (200, PHONES[1])
    status, one = await api.call("GET", "/v1/contacts/0612345601", token=api.everything)
    assert (status, one["phone"]) == (200, PHONES[1])  # the national form is read too
    status, error = await api.call("GET", "/v1/contacts/0699999999", token=api.everything)
    assert status == 404
    error_of(error, "unknown_contact")
    status, error = await api.call("GET", "/v1/contacts/06%2012", token=api.everything)
    assert status == 400
    assert error_of(error, "invalid_request")["details"][0]["loc"] == ["path", "phone"]


@pytest.mark.parametrize(
    ("method", "url"),
    [("GET", "/v1/contacts"), ("GET", "/v1/lists"), ("GET", "/v1/contacts/0612345678"),
     ("DELETE", "/v1/contacts/0612345678")],
)  # fmt: skip
async def test_a_token_of_some_bots_cannot_reach_the_address_book(
    api: Api, method: str, url: str
) -> None:
    status, error = await api.call(method, url)
    assert status == 403
    error_of(error, "forbidden")


async def test_the_red_list_belongs_to_the_bots_business(api: Api) -> None:
    url = "/v1/bots/rdv/red-list"
    status, added = await api.call("POST", url, json={"phone": "06 12 34 56 78", "reason": "a"})
    assert (status, added) == (201, {"phone": PHONE, "changed": True})
    status, again = await api.call("POST", url, json={"phone": PHONE})
    assert (status, again) == (200, {"phone": PHONE, "changed": False})
    status, shown = await api.call("GET", url)
    assert status == 200
    assert shown["business"] == "acme"
    assert [(e["phone"], e["reason"]) for e in shown["entries"]] == [(PHONE, "a")]
    assert await api.runtime.store.red_listed("acme", PHONE)
    # colis belongs to another business: its list is its own, and rdv's token cannot see it.
    _, theirs = await api.call("GET", "/v1/bots/colis/red-list", token=api.other)
    assert (theirs["business"], theirs["entries"]) == ("colis-express", [])
    assert (await api.call("GET", "/v1/bots/colis/red-list"))[0] == 403
    status, removed = await api.call("DELETE", f"{url}/{quote(PHONE)}")
    assert (status, removed) == (200, {"phone": PHONE, "changed": True})
    status, error = await api.call("DELETE", f"{url}/{quote(PHONE)}")
    assert status == 404
    error_of(error, "not_red_listed")
    status, error = await api.call("POST", url, json={"phone": "12"})
    assert status == 400
    assert error_of(error, "invalid_request")["details"][0]["loc"] == ["body", "phone"]


async def test_opt_outs_are_read_per_business_by_number(api: Api) -> None:
    store = api.runtime.store
    await store.set_opt_out(OptOut("acme", PHONES[1], True, NOW, "sms:STOP"))
    await store.set_opt_out(OptOut("acme", PHONES[0], False, NOW, "sms:START"))
    await store.set_opt_out(OptOut("colis-express", PHONES[2], True, NOW, "rcs:STOP"))
    status, page = await api.call("GET", "/v1/bots/rdv/opt-outs?limit=1")
    assert status == 200
    assert page["business"] == "acme"
    assert [(o["phone"], o["opted_out"]) for o in page["opt_outs"]] == [(PHONES[0], False)]
    _, rest = await api.call("GET", f"/v1/bots/rdv/opt-outs?cursor={page['next_cursor']}")
    assert [o["phone"] for o in rest["opt_outs"]] == [PHONES[1]]
    assert (await api.call("GET", "/v1/bots/colis/opt-outs"))[0] == 403


async def test_erasure_removes_the_person_as_the_command_does(api: Api) -> None:
    assert (await api.post())[0] == 202
    await api.runtime.run_until_idle()
    store = api.runtime.store
    await store.set_opt_out(OptOut("acme", PHONE, True, NOW, "sms:STOP"))
    await store.upsert_contacts([Contact(PHONE, {"first_name": "Ana"}, NOW, NOW)], "vip")
    status, erased = await api.call("DELETE", f"/v1/contacts/{quote(PHONE)}", token=api.everything)
    assert status == 200
    assert erased["phone"] == "+33•••••••78"
    assert erased["counts"]["conversations"] == 1
    assert await store.get_conversation("rdv", PHONE) is None
    assert await store.get_contact(PHONE) is None
    assert await store.get_opt_out("acme", PHONE) is None
    kept = await store.get_opt_out("acme", hashed_phone(PHONE, SALT))
    assert kept is not None
    assert kept.opted_out
    status, again = await api.call("DELETE", f"/v1/contacts/{quote(PHONE)}", token=api.everything)
    assert status == 200
    assert again["counts"]["conversations"] == 0


async def test_erasure_needs_the_deployments_salt(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    api = await make_api(aiohttp_client, tmp_path, erasure_salt=None)
    try:
        status, error = await api.call("DELETE", "/v1/contacts/0612345678", token=api.everything)
        assert status == 409
        error_of(error, "erasure_not_configured")
    finally:
        await api.runtime.close()
