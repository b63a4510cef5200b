"""Admin API token scopes on every operation (issue 9, item 7; docs/security.md).

tests/bots/test_admin_admin.py checks one route (starting a conversation); these walk every
operation the API declares (`bots.admin.areas.OPERATIONS`), so that a route added later
without the checks fails here: no token or a revoked one is 401, a token of another bot is 403,
a token scoped to some bots is 403 on the address book's `scope="all"` operations, and none of
these refused requests changes anything.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bots.admin import PREFIX
from bots.admin.areas import OPERATIONS
from bots.admin.operations import Operation
from tests.security.conftest import Admin

PHONE = "+33612345678"


def url(operation: Operation, bot: str = "rdv") -> str:
    path = operation.path.replace("{bot}", bot).replace("{id}", "c-1").replace("{campaign}", "c-1")
    return PREFIX + path.replace("{phone}", PHONE.replace("+", "%2B"))


async def call(admin: Admin, operation: Operation, token: str | None, bot: str = "rdv") -> Any:
    headers = {"Idempotency-Key": "k-1"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps({"phone": PHONE, "text": "x"}) if operation.body else None
    response = await admin.client.request(
        operation.method, url(operation, bot), data=body, headers=headers
    )
    answer = await response.json()
    return response.status, answer


async def nothing_changed(admin: Admin) -> None:
    store = admin.runtime.store
    assert await store.inbox_depth() == 0
    assert admin.sender.sent == []


def ids(operation: Operation) -> str:
    return f"{operation.method} {operation.path}"


BOT_OPERATIONS = [op for op in OPERATIONS if "bot" in op.path_names]
ALL_OPERATIONS = [op for op in OPERATIONS if op.scope == "all"]


def test_every_operation_is_scoped_to_a_bot_or_to_every_bot() -> None:
    assert OPERATIONS
    unscoped = [ids(op) for op in OPERATIONS if op not in BOT_OPERATIONS + ALL_OPERATIONS]
    assert unscoped == []


@pytest.mark.parametrize("operation", OPERATIONS, ids=ids)
async def test_no_token_and_a_revoked_token_are_401(admin: Admin, operation: Operation) -> None:
    for token in (None, admin.revoked, "cst_" + "x" * 43):
        status, answer = await call(admin, operation, token)
        assert status == 401, (token, answer)
        assert answer["error"]["code"] == "unauthorized"
    await nothing_changed(admin)


@pytest.mark.parametrize("operation", BOT_OPERATIONS, ids=ids)
async def test_a_token_of_another_bot_is_403(admin: Admin, operation: Operation) -> None:
    status, answer = await call(admin, operation, admin.colis)  # scoped to `colis` only
    assert status == 403, answer
    assert answer["error"]["code"] == "forbidden"
    await nothing_changed(admin)


@pytest.mark.parametrize("operation", ALL_OPERATIONS, ids=ids)
async def test_a_token_of_some_bots_is_403_on_the_whole_address_book(
    admin: Admin, operation: Operation
) -> None:
    status, answer = await call(admin, operation, admin.rdv)
    assert status == 403, answer
    assert answer["error"]["code"] == "forbidden"
    await nothing_changed(admin)
