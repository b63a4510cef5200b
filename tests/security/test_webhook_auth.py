"""Every webhook the server exposes authenticates its caller (issue 9, item 7).

Over loopback HTTP on what `causette demo` serves (the same `add_webhooks` wiring as
`causette serve`): the RBM webhook checks `X-Goog-Signature` (HMAC-SHA512 of the payload with
the client token, reference/rbm.md §5.3); smsmode signs nothing, so each bot's callback path
carries a token derived from the callback secret (reference/sms.md §1.4). A request that
fails the check is a 4xx and leaves nothing in the inbox; the same request authenticated is
stored, which shows the refusals are the check's doing. The unit tests of each webhook
(tests/webhooks/) cover the payload shapes; this file covers the deployment and the rule that
secrets are compared in constant time.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from bots.wiring import RBM_WEBHOOK_PATH, SMSMODE_CALLBACK_PREFIX, callback_token
from tests.e2e.conftest import ANA, BRUNO, Demo
from tests.webhooks.payloads import envelope, hmac_signature, mo, user_text

ROOT = Path(__file__).parents[2]
WEBHOOKS = {RBM_WEBHOOK_PATH, f"{SMSMODE_CALLBACK_PREFIX}/{{token}}"}


def rbm_payload(message_id: str) -> bytes:
    agent = "lead_agent@rbm.goog"
    return json.dumps(user_text(message_id, "Bonjour", agent=agent, phone=ANA)).encode()


async def post(demo: Demo, path: str, body: Any, headers: dict[str, str] | None = None) -> int:
    async with demo.http.post(demo.base_url + path, json=body, headers=headers) as response:
        return response.status


def test_every_webhook_route_is_one_this_file_checks(demo: Demo) -> None:
    found = {
        resource.canonical
        for resource in demo.app.router.resources()
        if resource.canonical.startswith("/webhooks")
    }
    assert found == WEBHOOKS


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "not base64!",
        hmac_signature(b"another payload", "demo-client-token"),
        "__token__",  # signed with another client token
    ],
)
async def test_rbm_without_a_valid_signature_is_401_and_stores_nothing(
    demo: Demo, signature: str | None
) -> None:
    data = rbm_payload("MxForged1")
    headers = {}
    if signature == "__token__":
        headers["X-Goog-Signature"] = hmac_signature(data, "another-client-token")
    elif signature is not None:
        headers["X-Goog-Signature"] = signature
    assert await post(demo, RBM_WEBHOOK_PATH, envelope(data), headers) == 401
    assert demo.inbox_rows(ANA) == []

    # The same payload, signed with the deployment's client token, goes in.
    token = demo.env["DEMO_RBM_CLIENT_TOKEN"]
    headers = {"X-Goog-Signature": hmac_signature(data, token)}
    assert await post(demo, RBM_WEBHOOK_PATH, envelope(data), headers) == 200
    assert [row[1] for row in demo.inbox_rows(ANA)] == ["MxForged1"]


@pytest.mark.parametrize(
    "token",
    [
        "0" * 32,
        "lead",
        callback_token("another-secret", "lead"),
        callback_token("demo-callback-secret", "lead")[:-1],
        callback_token("demo-callback-secret", "lead").upper(),
    ],
)
async def test_smsmode_on_a_wrong_callback_path_is_404_and_stores_nothing(
    demo: Demo, token: str
) -> None:
    t2c = demo.settings.bot("lead").t2c
    assert t2c is not None
    body = mo("mo-forged-1", sender=BRUNO[1:], to=t2c.number[1:])
    assert await post(demo, f"{SMSMODE_CALLBACK_PREFIX}/{token}", body) == 404
    assert demo.inbox_rows(BRUNO) == []

    right = callback_token(demo.env["DEMO_SMSMODE_SECRET"], "lead")
    assert await post(demo, f"{SMSMODE_CALLBACK_PREFIX}/{right}", body) == 200
    assert [row[1] for row in demo.inbox_rows(BRUNO)] == ["mo-forged-1"]


# --- constant-time comparisons -----------------------------------------------------------------

PRODUCTION = [
    "agents",
    "bots",
    "compliance",
    "fallback",
    "flows",
    "messaging",
    "sessions",
    "store",
    "webhooks",
]
"""Every package of the product but `sandbox/`, the providers' stand-ins."""
SECRET_NAME = re.compile(r"token|secret|signature|digest|password|api_key|mac\b", re.IGNORECASE)
NOT_SECRETS = {
    # Two values of our own cache, nothing a caller sends.
    "agents/google_auth.py: token == self._token",
}


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript | ast.Call):
        return _name(node.value if isinstance(node, ast.Subscript) else node.func)
    return ""


def secret_equalities(source: str, label: str) -> set[str]:
    """`label: expression` for each `==` or `!=` with a secret-looking name on a side."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        if not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
            continue
        sides = [node.left, *node.comparators]
        if any(isinstance(side, ast.Constant) for side in sides):
            continue  # `x == None`, `kind == "token"`: no secret on both sides
        if any(SECRET_NAME.search(_name(side)) for side in sides):
            found.add(f"{label}: {ast.unparse(node)}")
    return found


def test_secrets_are_compared_in_constant_time() -> None:
    """`==` stops at the first differing byte: its time tells an attacker how much of a guess
    was right. Secrets go through `hmac.compare_digest`."""
    found = set()
    for package in PRODUCTION:
        for path in sorted((ROOT / package).rglob("*.py")):
            label = str(path.relative_to(ROOT))
            found |= secret_equalities(path.read_text(encoding="utf-8"), label)
    assert found - NOT_SECRETS == set()


def test_the_scan_sees_an_equality_on_a_secret() -> None:
    source = "ok = given_signature == expected\nsame = request.token != stored\nx = a == b\n"
    assert secret_equalities(source, "f.py") == {
        "f.py: given_signature == expected",
        "f.py: request.token != stored",
    }
