"""The admin REST API under `/v1/`: bearer tokens, the error shape, starting a conversation,
the OpenAPI document. Over aiohttp's test client, on a runtime with a SQLite store."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bots.admin import admin_app
from bots.admin.areas import OPERATIONS
from bots.admin.auth import hash_token, new_token
from bots.admin.openapi import openapi_document
from store.billing_records import LedgerEntry, LedgerKind
from store.tokens_records import ApiToken
from tests.bots.admin_client import BODY, NOW, URL, Api, ClientFactory, error_of, make_api


@pytest.fixture
async def api(aiohttp_client: ClientFactory, tmp_path: Path) -> AsyncIterator[Api]:
    api = await make_api(aiohttp_client, tmp_path)
    yield api
    await api.runtime.close()


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Basic dXNlcjpwdw==", "Bearer cst_not-a-token", "bearer  "],
)
async def test_a_request_without_a_valid_token_is_refused(
    api: Api, authorization: str | None
) -> None:
    headers = {"Idempotency-Key": "k"}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = await api.client.post(URL, json=BODY, headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    error_of(await response.json(), "unauthorized")
    assert await api.runtime.store.inbox_depth() == 0


async def test_a_revoked_token_is_refused(api: Api) -> None:
    status, body, headers = await api.post(token=api.revoked)
    assert status == 401
    assert "revoked" in error_of(body, "unauthorized")["message"]
    assert "WWW-Authenticate" in headers


async def test_a_token_acts_only_on_its_bots(api: Api) -> None:
    status, body, _ = await api.post(token=api.other)
    assert status == 403
    error_of(body, "forbidden")
    assert await api.runtime.store.inbox_depth() == 0


async def test_an_unknown_bot_is_404_for_a_token_of_all_bots(api: Api) -> None:
    secret = new_token()
    await api.runtime.store.save_token(ApiToken("t-all", "", hash_token(secret), ("*",), NOW))
    status, body, _ = await api.post(token=secret, url="/v1/bots/nobody/conversations")
    assert status == 404
    error_of(body, "unknown_bot")
    status, body, _ = await api.post(url="/v1/bots/nobody/conversations")  # scoped: 403 first
    assert status == 403


@pytest.mark.parametrize(
    "data",
    [
        "{",
        "",
        "[1,",
        '{"phone": "\\ud800"}',
        "\xff",
        '{"phone": "0612345678", "vars": {"n": 99999999999999999999}}',  # beyond 64 bits
        '{"phone": "0612345678", "vars": {"n": NaN}}',
    ],
)
async def test_a_body_that_is_not_json_is_400(api: Api, data: str) -> None:
    status, body, _ = await api.post(data=data.encode("utf-8", "surrogateescape"))
    assert status == 400
    error_of(body, "invalid_json")


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({**BODY, "extra": 1}, ["body", "extra"]),
        ({**BODY, "phone": "06 12"}, ["body", "phone"]),
        ({"vars": {}}, ["body", "phone"]),
        ({**BODY, "channel": "fax"}, ["body", "channel"]),
        ({**BODY, "vars": [1]}, ["body", "vars"]),
        ([BODY], ["body"]),
    ],
)
async def test_an_invalid_body_names_its_field_without_its_value(
    api: Api, body: Any, loc: list[Any]
) -> None:
    status, answer, _ = await api.post(body)
    assert status == 400
    details = error_of(answer, "invalid_request")["details"]
    assert [d["loc"] for d in details] == [loc]
    assert all(set(d) == {"loc", "msg"} for d in details)
    assert "06 12" not in json.dumps(answer)
    assert "fax" not in json.dumps(answer)
    assert await api.runtime.store.inbox_depth() == 0


@pytest.mark.parametrize("key", [None, "", "k" * 201])
async def test_the_idempotency_key_is_required(api: Api, key: str | None) -> None:
    status, body, _ = await api.post(key=key)
    assert status == 400
    (detail,) = error_of(body, "invalid_request")["details"]
    assert detail["loc"] == ["header", "Idempotency-Key"]


async def test_a_body_too_large_is_413(api: Api) -> None:
    status, body, _ = await api.post({**BODY, "vars": {"x": "a" * 70_000}})
    assert status == 413
    error_of(body, "payload_too_large")


async def test_a_start_is_stored_once_and_the_conversation_runs(api: Api) -> None:
    status, first, _ = await api.post()
    assert status == 202
    assert first == {"inbox_seq": first["inbox_seq"], "created": True, "phone": "+33•••••••78"}
    status, again, _ = await api.post()  # the same key: a replay
    assert status == 200
    assert again == {**first, "created": False}
    assert await api.runtime.store.inbox_depth() == 1

    await api.runtime.run_until_idle()
    (sent,) = api.sender.sent
    assert (sent.bot_id, sent.phone) == ("rdv", "+33612345678")
    assert sent.content["text"] == "Bonjour Ana, le 12 décembre ?"
    conversation = await api.runtime.store.get_conversation("rdv", "+33612345678")
    assert conversation is not None
    assert conversation.contact["first_name"] == "Ana"


async def test_the_same_key_for_another_request_is_409(api: Api) -> None:
    assert (await api.post())[0] == 202
    status, body, _ = await api.post({**BODY, "phone": "+33612345679"})
    assert status == 409
    error_of(body, "idempotency_key_reused")
    secret = new_token()  # keys are per token: another token's same key is another start
    await api.runtime.store.save_token(ApiToken("t-2", "", hash_token(secret), ("rdv",), NOW))
    assert (await api.post(token=secret))[0] == 202
    assert await api.runtime.store.inbox_depth() == 2


async def test_an_unknown_route_or_method_answers_the_error_shape(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.rdv}"}
    response = await api.client.delete(URL, headers=headers)
    assert response.status == 405
    error_of(await response.json(), "method_not_allowed")


async def test_the_openapi_document_is_served_without_a_token(api: Api) -> None:
    response = await api.client.get("/v1/openapi.json")
    assert response.status == 200
    document = await response.json()
    assert document == json.loads(json.dumps(openapi_document(OPERATIONS)))
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    # Every route of the API is described, under the server's `/v1`.
    routes = {
        (route.method.lower(), route.resource.canonical)
        for route in admin_app(api.runtime).router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    described = {(m, path) for path, ops in document["paths"].items() for m in ops}
    assert routes == described
    # Every schema referred to exists, and every model is there.
    schemas = document["components"]["schemas"]
    refs = {r.rsplit("/", 1)[1] for r in _refs(document)}
    assert refs <= set(schemas)
    assert {"StartConversation", "StartedConversation", "ErrorResponse", "ErrorBody"} <= refs
    assert schemas["StartConversation"]["additionalProperties"] is False


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


async def test_usage_is_the_bots_billing_report(api: Api) -> None:
    entry = LedgerEntry(
        "message:k1", LedgerKind.MESSAGE, "sms_mt", "rdv", "", "default", "+33612345678",
        "sms", "FR", 2, Decimal("0.045"), "EUR", NOW, "R13", message_key="k1",
    )  # fmt: skip
    await api.runtime.store.commit_billing(None, [entry])
    headers = {"Authorization": f"Bearer {api.rdv}"}
    response = await api.client.get("/v1/bots/rdv/usage?month=2026-12", headers=headers)
    assert response.status == 200
    report = await response.json()
    assert report["total"]["amount"] == "0.090"
    response = await api.client.get("/v1/bots/rdv/usage?month=2026-13", headers=headers)
    assert response.status == 400
    error_of(await response.json(), "invalid_request")
    other = {"Authorization": f"Bearer {api.other}"}
    response = await api.client.get("/v1/bots/rdv/usage?month=2026-12", headers=other)
    assert response.status == 403


async def test_conversations_are_listed_and_shown_with_their_transcript(api: Api) -> None:
    status, _, _ = await api.post()
    assert status == 202
    await api.runtime.run_until_idle()
    headers = {"Authorization": f"Bearer {api.rdv}"}
    response = await api.client.get(URL, headers=headers)
    assert response.status == 200
    (listed,) = (await response.json())["conversations"]
    assert listed["phone"] == "+33•••••••78"
    assert (listed["state"], listed["status"], listed["transcript"]) == ("ask", "active", None)
    response = await api.client.get(f"{URL}/{listed['id']}", headers=headers)
    shown = await response.json()
    assert [line["direction"] for line in shown["transcript"]] == ["in", "out"]
    assert "Bonjour Ana" in shown["transcript"][1]["body"]["text"]
    response = await api.client.get(f"{URL}/nope", headers=headers)
    assert response.status == 404
    error_of(await response.json(), "unknown_conversation")
    other = {"Authorization": f"Bearer {api.other}"}
    response = await api.client.get(f"/v1/bots/colis/conversations/{listed['id']}", headers=other)
    assert response.status == 404  # another bot's conversation is not found through this one
