"""Both webhooks fuzzed with malformed requests: whatever arrives, the answer is never a 5xx
and nothing is stored (no inbox entry, no runtime wake-up, no outbox change).

The bodies are random bytes, random JSON, and valid provider requests broken one way at a
time: a field of the wrong type, a required field removed, a signature or base64 spoiled,
huge strings where they cannot be right. Every valid request refers to outbox entries that
exist (RBM and smsmode receipts) and to known agents and tokens, so that a break that let a
request through would show as a change.

8,230 requests in all (RBM 4,990, smsmode 3,240), about 14 s on loopback. Examples share one
server and store per test: a request that stored something fails every later example too,
so read the first failure hypothesis reports.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messaging.clock import FakeClock
from store.base import Store
from store.records import OutboxEntry, OutboxStatus
from tests.webhooks.conftest import (
    RBM_PATH,
    Calls,
    Client,
    ClientFactory,
    outbox_snapshot,
    rbm_app,
    sms_app,
    sms_url,
)
from tests.webhooks.payloads import (
    AGENT,
    CLIENT_TOKEN,
    OTHER_TOKEN,
    PHONE_DIGITS,
    SMS_TOKEN,
    T2C_DIGITS,
    T2C_TOKEN,
    dlr,
    envelope,
    hmac_signature,
    mo,
    sent,
    server_event,
    user_event,
    user_file,
    user_location,
    user_postback,
    user_text,
)
from webhooks.common import MAX_BODY

FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


def fuzz(examples: int) -> settings:
    """`examples` requests against one server and store (they must all leave it unchanged)."""
    return settings(FUZZ, max_examples=examples)


Snapshot = tuple[dict[OutboxStatus, int], list[OutboxEntry | None]]


@dataclass
class Target:
    """Both webhooks on one store holding sent messages, and the store as it was."""

    rbm: Client
    sms: Client
    store: Store
    calls: Calls
    keys: list[str]
    before: Snapshot

    async def assert_nothing_stored(self, status: int) -> None:
        assert status < 500
        assert await self.store.inbox_depth() == 0
        assert await outbox_snapshot(self.store, self.keys) == self.before
        assert self.calls.wakes == 0
        assert self.calls.subscriptions == []


@pytest.fixture
async def target(
    aiohttp_client: ClientFactory, store: Store, clock: FakeClock, calls: Calls
) -> Target:
    rbm_entries = await sent(store, {"m1": "rbm-m1", "m2": "rbm-m2", "m3": "sms-mt-1"})
    keys = [e.key for e in rbm_entries]
    rbm = await aiohttp_client(
        rbm_app(store, clock, calls, on_subscription_change=calls.subscription)
    )
    sms = await aiohttp_client(sms_app(store, clock, calls))
    return Target(rbm, sms, store, calls, keys, await outbox_snapshot(store, keys))


# --- strategies ---------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=15,
)

RBM_KEYS = [
    "message", "data", "senderPhoneNumber", "phoneNumber", "messageId", "agentId", "eventType",
    "text", "suggestionResponse", "location", "userFile", "payload", "clientToken", "secret",
]  # fmt: skip
SMS_KEYS = [
    "messageId", "direction", "from", "recipient", "to", "body", "text", "type", "status",
    "value", "detail", "stop", "postbackData", "latitude", "longitude", "fileUrl",
]  # fmt: skip


def objects(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """JSON objects speaking the provider's vocabulary, with random values."""
    return st.dictionaries(
        st.sampled_from(keys) | st.text(max_size=8),
        json_values | st.dictionaries(st.sampled_from(keys), json_values, max_size=4),
        max_size=6,
    )


printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=120)

wrong_for_anything = (
    st.booleans() | st.lists(st.integers(), max_size=3) | st.just("\ud800 lone surrogate")
)
"""Values no field of either provider's models accepts: no field is a bool but `stop`, none a
list, and no string may hold a lone surrogate."""
wrong_for_scalar = wrong_for_anything | st.dictionaries(
    st.text(max_size=3), st.integers(), max_size=2
)
wrong_for_text = wrong_for_scalar | st.integers() | st.floats(allow_nan=False)
wrong_for_number = wrong_for_scalar | st.text(max_size=10).filter(
    lambda s: not re.fullmatch(r"[0-9]{1,18}", s)
)
wrong_for_bool = st.lists(st.integers(), max_size=3) | st.integers() | st.text(max_size=5)
wrong_for_object = wrong_for_anything | st.integers() | st.text(max_size=10)
"""An object may have only optional fields (`recipient`): any object may be valid for it."""

Path = tuple[str, ...]
NUMBERS = {"latitude", "longitude", "fileSizeBytes"}


def _paths(value: dict[str, Any], prefix: Path = ()) -> list[Path]:
    found = []
    for key, item in value.items():
        found.append((*prefix, key))
        if isinstance(item, dict):
            found.extend(_paths(item, (*prefix, key)))
    return found


def _copy(value: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(value))
    return copied


def _get(value: dict[str, Any], path: Path) -> Any:
    node: Any = value
    for key in path:
        node = node[key]
    return node


def _replace(value: dict[str, Any], path: Path, new: Any) -> dict[str, Any]:
    out = _copy(value)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = new
    return out


def _delete(value: dict[str, Any], path: Path) -> dict[str, Any]:
    out = _copy(value)
    node = out
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return out


def wrong_value(path: Path, current: Any) -> st.SearchStrategy[Any]:
    if isinstance(current, dict):
        return wrong_for_object
    if path[-1] == "stop":
        return wrong_for_bool
    if path[-1] in NUMBERS:
        return wrong_for_number
    return wrong_for_text


@st.composite
def broken(
    draw: st.DrawFn,
    samples: list[tuple[dict[str, Any], list[Path], list[Path]]],
) -> dict[str, Any]:
    """A valid sample with one modelled field given a wrong type, or one required removed.

    `samples` are `(payload, modelled paths, required paths)`; paths of fields the webhooks
    ignore are never touched (changing them would change nothing).
    """
    payload, modelled, required = draw(st.sampled_from(samples))
    if required and draw(st.booleans()):
        return _delete(payload, draw(st.sampled_from(required)))
    path = draw(st.sampled_from(modelled))
    return _replace(payload, path, draw(wrong_value(path, _get(payload, path))))


def _rbm_samples() -> list[tuple[dict[str, Any], list[Path], list[Path]]]:
    common = ["senderPhoneNumber", "messageId", "agentId", "sendTime"]
    samples = []
    for build, content in (
        (user_text, ["text"]),
        (user_postback, ["suggestionResponse", "suggestionResponse.postbackData"]),
        (user_location, ["location", "location.latitude", "location.longitude"]),
        (user_file, ["userFile", "userFile.payload", "userFile.payload.fileUri"]),
    ):
        payload = build()
        required = [tuple(p.split(".")) for p in [*common[:3], *content]]
        samples.append((payload, _paths(payload), required))
    for event in (
        user_event("DELIVERED", "rbm-m1"),
        user_event("READ", "rbm-m1"),
        server_event("TTL_EXPIRATION_REVOKED", "rbm-m2"),
        server_event("TTL_EXPIRATION_REVOKE_FAILED", "rbm-m2"),
    ):
        phone = "senderPhoneNumber" if "senderPhoneNumber" in event else "phoneNumber"
        required = [(phone,), ("eventType",), ("messageId",)]
        samples.append((event, _paths(event), required))
    return samples


RBM_SAMPLES = _rbm_samples()


def _sms_samples() -> list[tuple[dict[str, Any], list[Path], list[Path]]]:
    samples = []
    for body in (
        mo(),
        mo(sender=PHONE_DIGITS, to=T2C_DIGITS),
        mo(body={"type": "SUGGESTION", "text": "Oui", "postbackData": "yes"}),
        mo(body={"type": "LOCATION", "latitude": 43.3, "longitude": 5.4}),
        mo(body={"type": "FILE", "fileUrl": "https://f.example/a.jpg", "filename": "a.jpg"}),
    ):
        kind = body["body"].get("type", "TEXT")
        content = {
            "TEXT": [("body", "text")],
            "SUGGESTION": [("body", "postbackData")],
            "LOCATION": [("body", "latitude"), ("body", "longitude")],
            "FILE": [("body", "fileUrl")],
        }[kind]
        modelled = [
            p
            for p in _paths(body)
            if p[0] in {"messageId", "direction", "from", "recipient", "body", "status"}
        ]
        samples.append((body, modelled, [("messageId",), ("body",), *content]))
    for value in ("DELIVERED", "UNDELIVERABLE", "ENROUTE", "SOMETHING_NEW"):
        report = dlr("sms-mt-1", value, "SPAM")
        modelled = [
            p
            for p in _paths(report)
            if p[0] in {"messageId", "direction", "status"}
            and p[-1] not in {"deliveryDate", "lookup", "mccMnc", "country", "network"}
        ]
        samples.append((report, modelled, [("messageId",), ("status", "value")]))
    return samples


SMS_SAMPLES = _sms_samples()


def signature_of(data: bytes) -> st.SearchStrategy[str | None]:
    """Anything but the right signature of `data`."""
    good = base64.b64decode(hmac_signature(data))
    flipped = st.integers(0, len(good) * 8 - 1).map(
        lambda bit: base64.b64encode(
            good[: bit // 8] + bytes([good[bit // 8] ^ (1 << (bit % 8))]) + good[bit // 8 + 1 :]
        ).decode()
    )
    return st.one_of(
        st.none(),
        printable,
        st.binary(min_size=64, max_size=64).map(lambda b: base64.b64encode(b).decode()),
        st.text(st.characters(codec="utf-8"), max_size=40)
        .map(lambda t: hmac_signature(data, t))
        .filter(lambda s: s != hmac_signature(data)),
        st.just(hmac_signature(base64.b64encode(data))),
        flipped,
    )


def headers(signature: str | None) -> dict[str, str]:
    return {} if signature is None else {"X-Goog-Signature": signature}


async def post_rbm(target: Target, body: bytes, signature: str | None) -> int:
    response = await target.rbm.post(RBM_PATH, data=body, headers=headers(signature))
    await response.read()
    return response.status


async def post_sms(target: Target, body: bytes, token: str = SMS_TOKEN) -> int:
    response = await target.sms.post(sms_url(token), data=body)
    await response.read()
    return response.status


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8", "surrogatepass")


# --- RBM ----------------------------------------------------------------------------------------


@fuzz(400)
@given(body=st.binary(max_size=2048), signature=st.none() | printable)
async def test_rbm_random_bytes(target: Target, body: bytes, signature: str | None) -> None:
    await target.assert_nothing_stored(await post_rbm(target, body, signature))


@fuzz(600)
@given(value=json_values | objects(RBM_KEYS), signature=st.none() | printable)
async def test_rbm_random_json(target: Target, value: Any, signature: str | None) -> None:
    await target.assert_nothing_stored(await post_rbm(target, dumps(value), signature))


@fuzz(600)
@given(payload=json_values | objects(RBM_KEYS))
async def test_rbm_signed_random_payloads(target: Target, payload: Any) -> None:
    """Correctly signed, so that they reach the payload's validation."""
    data = dumps(payload)
    body = dumps(envelope(data))
    await target.assert_nothing_stored(await post_rbm(target, body, hmac_signature(data)))


@fuzz(2000)
@given(payload=broken(RBM_SAMPLES))
async def test_rbm_signed_payloads_with_a_field_broken(target: Target, payload: Any) -> None:
    data = dumps(payload)
    status = await post_rbm(target, dumps(envelope(data)), hmac_signature(data))
    assert status == 400
    await target.assert_nothing_stored(status)


@st.composite
def spoiled_envelopes(draw: st.DrawFn) -> tuple[bytes, str | None]:
    """A valid payload whose envelope, base64 or signature is spoiled."""
    payload, _, _ = draw(st.sampled_from(RBM_SAMPLES))
    data = dumps(payload)
    wrapped = envelope(data)
    how = draw(st.sampled_from(["signature", "base64", "envelope", "envelope field"]))
    if how == "signature":
        return dumps(wrapped), draw(signature_of(data))
    if how == "base64":
        encoded = wrapped["message"]["data"]
        cut = draw(st.integers(0, len(encoded)))
        junk = draw(st.text(st.sampled_from("*-_!é .=\n"), min_size=1, max_size=3))
        wrapped["message"]["data"] = encoded[:cut] + junk + encoded[cut:]
        return dumps(wrapped), hmac_signature(data)
    if how == "envelope":
        path = draw(st.sampled_from([("message",), ("message", "data")]))
        if draw(st.booleans()):
            return dumps(_delete(wrapped, path)), hmac_signature(data)
        return dumps(_replace(wrapped, path, draw(wrong_for_text))), hmac_signature(data)
    path = draw(st.sampled_from([("message", "messageId"), ("subscription",)]))
    return dumps(_replace(wrapped, path, draw(wrong_for_text))), hmac_signature(data)


@fuzz(1200)
@given(request=spoiled_envelopes())
async def test_rbm_spoiled_envelopes_and_signatures(
    target: Target, request: tuple[bytes, str | None]
) -> None:
    body, signature = request
    status = await post_rbm(target, body, signature)
    assert status in (400, 401)
    await target.assert_nothing_stored(status)


@st.composite
def huge_rbm(draw: st.DrawFn) -> tuple[bytes, str | None]:
    size = draw(st.integers(MAX_BODY - 2000, MAX_BODY + 2000))
    where = draw(st.sampled_from(["data", "messageId", "phone", "signature", "padding"]))
    if where == "data":  # never base64: over the limit or not base64
        wrapped = {"message": {"data": "*" * size}}
        return dumps(wrapped), hmac_signature(b"")
    if where == "signature":
        data = dumps(user_text())
        return dumps(envelope(data)), "A" * draw(st.integers(9_000, 20_000))
    if where == "padding":
        data = dumps(user_text())
        return dumps({**envelope(data), "pad": "x" * size}), None
    field = "messageId" if where == "messageId" else "senderPhoneNumber"
    data = dumps({**user_text(agent=AGENT), field: "9" * (size // 2)})
    return dumps(envelope(data)), hmac_signature(data)


@fuzz(40)
@given(request=huge_rbm())
async def test_rbm_huge_strings(target: Target, request: tuple[bytes, str | None]) -> None:
    body, signature = request
    await target.assert_nothing_stored(await post_rbm(target, body, signature))


@fuzz(150)
@given(token=st.text(max_size=40).filter(lambda t: t != CLIENT_TOKEN), secret=st.text(max_size=40))
async def test_rbm_handshakes_with_other_tokens(target: Target, token: str, secret: str) -> None:
    body = dumps({"clientToken": token, "secret": secret})
    status = await post_rbm(target, body, None)
    assert status in (400, 403)
    await target.assert_nothing_stored(status)


# --- smsmode ------------------------------------------------------------------------------------


@fuzz(400)
@given(body=st.binary(max_size=2048), token=st.sampled_from([SMS_TOKEN, T2C_TOKEN, OTHER_TOKEN]))
async def test_sms_random_bytes(target: Target, body: bytes, token: str) -> None:
    await target.assert_nothing_stored(await post_sms(target, body, token))


@fuzz(600)
@given(value=json_values | objects(SMS_KEYS), token=st.sampled_from([SMS_TOKEN, T2C_TOKEN]))
async def test_sms_random_json(target: Target, value: Any, token: str) -> None:
    await target.assert_nothing_stored(await post_sms(target, dumps(value), token))


@fuzz(2000)
@given(body=broken(SMS_SAMPLES), token=st.sampled_from([SMS_TOKEN, T2C_TOKEN]))
async def test_sms_bodies_with_a_field_broken(target: Target, body: Any, token: str) -> None:
    status = await post_sms(target, dumps(body), token)
    assert status == 400
    await target.assert_nothing_stored(status)


@fuzz(200)
@given(
    token=st.text(st.characters(codec="utf-8", exclude_characters="/?#"), min_size=1, max_size=40),
    sample=st.sampled_from(SMS_SAMPLES),
)
async def test_sms_guessed_tokens(
    target: Target, token: str, sample: tuple[dict[str, Any], list[Path], list[Path]]
) -> None:
    if token in (SMS_TOKEN, T2C_TOKEN, OTHER_TOKEN) or token in (".", ".."):
        return
    response = await target.sms.post(f"/webhooks/smsmode/{token}", data=dumps(sample[0]))
    await response.read()
    assert response.status in (400, 404, 405)
    await target.assert_nothing_stored(response.status)


@fuzz(40)
@given(
    size=st.integers(MAX_BODY - 2000, MAX_BODY + 2000),
    where=st.sampled_from(["messageId", "from", "status", "padding"]),
)
async def test_sms_huge_strings(target: Target, size: int, where: str) -> None:
    body: dict[str, Any]
    if where == "messageId":
        body = mo(message_id="m" * size)
    elif where == "from":
        body = mo(sender="6" * size)
    elif where == "status":
        body = dlr("sms-mt-1", "X" * size)
    else:
        body = {**mo(), "pad": "x" * size, "body": "not an object"}
    await target.assert_nothing_stored(await post_sms(target, dumps(body)))
