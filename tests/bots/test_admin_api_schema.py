"""The admin API against its own OpenAPI document (issue 8's acceptance): schemathesis sends
every operation generated requests, valid and invalid, to a real server over loopback, and no
answer may be a 5xx, a status the document does not list, or a body its schema refuses. Then,
for every operation: no token or a wrong one is 401, another bot's token 403."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)
from yarl import URL as Url

from bots.admin.areas import OPERATIONS
from bots.admin.operations import Operation
from store.compliance_records import OptOut, RedListed
from store.contacts_records import Contact
from tests.bots.admin_client import NOW, PHONE, Api, ClientFactory, error_of, make_api

EXAMPLES = 20
"""Requests generated per operation, per mode (valid, invalid) and per path (the example bot's
known ids, or generated ones): bounded so the whole run stays well under a minute."""
OTHER_PHONE = "+33612345671"
CAMPAIGN = "c-seeded"
"""A campaign scheduled a month ahead, for the campaign operations to find."""
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


@dataclass
class Served:
    base: str
    """`http://127.0.0.1:{port}`"""
    token: str
    """A token of every bot."""
    answered: str
    """A handed-off conversation of `rdv`, for the person's answers."""
    released: str
    """Another, for release and end."""


async def _seed(api: Api) -> tuple[str, str]:
    """Something for every operation to find: two handed-off conversations (one for the
    person's answers, one to release and end), contacts in a list, a red-listed number, an
    opt-out."""
    answered = await api.started()
    await api.says("Conseiller", "m1", data="human")
    await api.says("Bonjour ?", "m2")
    assert (await api.post({"phone": OTHER_PHONE}, key="k-2"))[0] == 202
    await api.runtime.run_until_idle()
    await api.says("Conseiller", "m3", data="human", phone=OTHER_PHONE)
    other = await api.runtime.store.get_conversation("rdv", OTHER_PHONE)
    assert other is not None
    store = api.runtime.store
    await store.upsert_contacts([Contact(PHONE, {"first_name": "Ana"}, NOW, NOW)], "vip")
    await store.red_list_add(RedListed("acme", "+33612345679", NOW, "test"))
    await store.set_opt_out(OptOut("acme", "+33612345670", True, NOW, "sms:STOP"))
    later = (NOW + timedelta(days=30)).isoformat()
    campaign = {"id": CAMPAIGN, "recipients": [{"phone": PHONE}], "send_at": later}
    assert (await api.call("POST", "/v1/bots/rdv/campaigns", json=campaign))[0] == 201
    return answered, other.id


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The bot server's admin API on a loopback port, in a thread of its own (schemathesis
    calls it synchronously): a SQLite store, the example bot `rdv`, seeded."""
    ready: list[Served] = []
    started = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        async def client_of(app: web.Application) -> TestClient[web.Request, web.Application]:
            client = TestClient(TestServer(app, host="127.0.0.1"))
            await client.start_server()
            return client

        api = await make_api(client_of, tmp_path_factory.mktemp("schema"))
        try:
            answered, released = await _seed(api)
            base = str(api.client.make_url("")).rstrip("/")
            ready.append(Served(base, api.everything, answered, released))
            started.set()
            await stop.wait()
        finally:
            await api.client.close()
            await api.runtime.close()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(30), "the server did not start"
    yield ready[0]
    loop.call_soon_threadsafe(stop.set)
    thread.join(30)
    loop.close()


def _run(served: Served, operation: Any, known: bool, mode: schemathesis.GenerationMode) -> None:
    fixed: dict[str, Any] = {}
    if known:
        names = re.findall(r"{(\w+)}", operation.path)
        answers = operation.path.endswith("/messages")
        conversation = served.answered if answers else served.released
        known_values = {"bot": "rdv", "id": conversation, "phone": PHONE, "campaign": CAMPAIGN}
        fixed = {name: known_values[name] for name in names}
    strategy = operation.as_strategy(mode, path_parameters=fixed or None)
    headers = {"Authorization": f"Bearer {served.token}"}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    @given(st.data())
    def check(data: st.DataObject) -> None:
        case = data.draw(strategy)
        case.call_and_validate(base_url=served.base + "/v1", headers=headers, checks=CHECKS)

    check()


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode))
def test_every_operation_keeps_to_its_document(served: Served, mode: Any) -> None:
    schema = schemathesis.openapi.from_url(f"{served.base}/v1/openapi.json")
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()  # the document itself is valid
        operations.append(result.ok())
    described = {(op.method.upper(), op.path) for op in operations}
    assert described >= {(op.method, op.path) for op in OPERATIONS}
    for operation in operations:
        for known in (True, False):
            _run(served, operation, known, mode)


# --- tokens, operation by operation ----------------------------------------------------------


@pytest.fixture
async def api(aiohttp_client: ClientFactory, tmp_path: Path) -> AsyncIterator[Api]:
    api = await make_api(aiohttp_client, tmp_path)
    yield api
    await api.runtime.close()


def _url(operation: Operation, bot: str = "rdv") -> str:
    values = {"bot": bot, "id": "rdv-1", "phone": "0612345678", "campaign": CAMPAIGN}
    return "/v1" + re.sub(r"{(\w+)}", lambda m: values[m.group(1)], operation.path)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.operation_id)
@pytest.mark.parametrize("authorization", [None, "Bearer cst_wrong", "Basic eDp5"])
async def test_every_operation_needs_a_valid_token(
    api: Api, operation: Operation, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await api.client.request(operation.method, _url(operation), headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    error_of(await response.json(), "unauthorized")
    revoked = await api.client.request(
        operation.method, _url(operation), headers={"Authorization": f"Bearer {api.revoked}"}
    )
    assert revoked.status == 401


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.operation_id)
async def test_another_bots_token_is_403_on_every_operation(api: Api, operation: Operation) -> None:
    """`api.other` is a token of `colis`: refused on `rdv`'s operations, and on those of the
    whole deployment (they need `*`)."""
    status, body = await api.call(operation.method, _url(operation), token=api.other)
    assert status == 403
    error_of(body, "forbidden")


@pytest.mark.parametrize("raw", ["%ED%A0%80", "%FF", "%00", "%C3%A9%F0%9F%98%80", "a" * 2000])
@pytest.mark.parametrize(
    "url",
    [
        "/v1/bots/rdv/conversations/{raw}",
        "/v1/bots/rdv/conversations/{raw}/release",
        "/v1/bots/{raw}/handoffs",
        "/v1/contacts/{raw}",
        "/v1/bots/rdv/red-list/{raw}",
        "/v1/bots/rdv/conversations?cursor={raw}",
        "/v1/contacts?list={raw}",
    ],
)
async def test_odd_bytes_in_paths_and_queries_are_never_5xx(api: Api, url: str, raw: str) -> None:
    """Lone surrogates, bytes that are not UTF-8, NUL, emoji, long values: refused, not found
    or found empty, never a store failure."""
    method = "POST" if url.endswith("/release") else "DELETE" if "red-list" in url else "GET"
    target = Url(url.format(raw=raw), encoded=True)
    response = await api.client.request(method, target, headers=api.auth(api.everything))
    assert response.status < 500, await response.text()
    body = await response.json()
    assert set(body) == ({"error"} if response.status >= 400 else {"contacts", "next_cursor"})


async def test_an_idempotency_key_that_is_not_utf8_is_400(api: Api) -> None:
    reader, writer = await asyncio.open_connection(api.client.host, api.client.port)
    body = b'{"phone": "0612345678"}'
    writer.write(
        b"POST /v1/bots/rdv/conversations HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {api.rdv}\r\n".encode()
        + b"Idempotency-Key: k-\xff\xfe\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    answer = await reader.read()
    writer.close()
    status = answer.split(b" ", 2)[1]
    assert status == b"400", answer
    assert b'"loc": ["header", "Idempotency-Key"]' in answer
    assert await api.runtime.store.inbox_depth() == 0
