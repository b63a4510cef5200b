"""What the RBM webhook and the smsmode callbacks share.

The rules every inbound endpoint keeps (DESIGN.md, "How a message flows"):

- A request is answered 2xx only once what it carries is durably stored: the inbox append, or
  the receipt's outbox write, has returned.
- No input gets a 5xx. A body that cannot be read as what the provider documents is refused
  with a 4xx and `{"error": "..."}`, and nothing of it is stored. Only a failure of ours (the
  store is unreachable, a callback of the runtime raised) answers 503, so that the provider
  retries later.
- Logs never carry a secret, a body, or a whole phone number (`Phone.masked`).

Strings that reach the store are checked to be encodable as UTF-8: JSON lets a body carry a
lone surrogate (`"\\ud800"`), which no store can write; such a body is bad input (400), not a
store failure (503).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated, Any, NoReturn, TypeVar

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, ValidationError

from messaging.channel import Channel
from messaging.clock import Clock
from messaging.phone import InvalidPhoneError, Phone
from store.availability import is_unavailable
from store.base import Store
from store.records import InboxEntry, NewInbound, OutboxEntry, OutboxStatus
from store.unconfirmed_sms import awaiting_report

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024
"""The largest body a webhook reads (bytes); a larger one is refused with 413 unread.

Neither provider documents a bound; a generous one keeps a hostile client from filling memory.
An RBM envelope carries its payload in base64 (4/3 of it), far below this for any real message.
"""

MAX_ID = 512
"""The longest provider message id accepted (RBM and smsmode use UUID-like ids)."""

MAX_DETAIL = 200
"""History details built from provider text are cut to this length."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)


class Reject(Exception):
    """Answer the request with `status` and `{"error": message}`; nothing was stored.

    `message` goes back to the caller and into the log: it never quotes the body.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> Reject:
    """The 400 to raise for a body that is not what the provider sends."""
    return Reject(400, message)


def error_response(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def ok(result: str, **fields: str) -> web.Response:
    """The 200 of a handled request: `result` says what became of it (for people and tests)."""
    return web.json_response({"result": result, **fields})


def json_errors(name: str, handler: Handler) -> Handler:
    """Turn a handler's `Reject` into its JSON answer, logged once under `name`."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Reject as reject:
            level = logging.WARNING if reject.status in (401, 403, 503) else logging.INFO
            log.log(level, "%s: %s %s", name, reject.status, reject.message)
            return error_response(reject.status, reject.message)

    return wrapped


# --- reading a body ---------------------------------------------------------------------------


async def read_body(request: web.Request, limit: int = MAX_BODY) -> bytes:
    """The whole body, or 413 as soon as it is known to be larger than `limit`.

    Read here rather than through `client_max_size`, which belongs to the application (the
    runtime's app factory) and whose own 413 is a text page.
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        raise Reject(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise Reject(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def parse_object(raw: bytes, what: str) -> dict[str, Any]:
    """`raw` as a JSON object (UTF-8, standard JSON: no NaN nor Infinity); 400 otherwise."""
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except UnicodeDecodeError:
        raise bad_request(f"{what} is not UTF-8") from None
    except (ValueError, RecursionError):  # JSONDecodeError, an over-long int, deep nesting
        raise bad_request(f"{what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise bad_request(f"{what} must be a JSON object")
    return value


def validate(model: type[M], value: Any, what: str) -> M:
    """`value` as `model`; 400 naming the fields at fault (never their values) otherwise."""
    try:
        return model.model_validate(value)
    except ValidationError as error:
        raise bad_request(f"{what}: {describe(error)}") from None


def describe(error: ValidationError, limit: int = 3) -> str:
    """A short account of a validation error, without the input values (they may be phones)."""
    parts = []
    for item in error.errors(include_url=False, include_input=False, include_context=False)[:limit]:
        where = ".".join(str(part) for part in item["loc"]) or "value"
        parts.append(f"{where}: {item['msg']}")
    more = error.error_count() - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


# --- field types for the provider models -----------------------------------------------------


def _utf8(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


Text = Annotated[str, AfterValidator(_utf8)]
"""Any string a store can write."""

Id = Annotated[Text, StringConstraints(min_length=1, max_length=MAX_ID)]
"""A provider's message id."""


class ProviderModel(BaseModel):
    """A provider's JSON, read strictly (no `"1"` for 1, no `1` for `"1"`); fields we do not
    use are ignored, so that the provider may add some."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, allow_inf_nan=False)


def detail_text(text: str) -> str:
    """Provider text made fit for a history line: one line, at most `MAX_DETAIL` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_DETAIL else flat[: MAX_DETAIL - 1] + "…"


# --- phones -----------------------------------------------------------------------------------


def msisdn(raw: str | None) -> Phone | None:
    """The phone number `raw` stands for (`+33612345678`, `33612345678`, `0612345678`), or
    None when it is none: a shortcode (`36034`), a SenderID, an RCS agent id."""
    if raw is None or not raw.strip():
        return None
    try:
        return Phone(raw)
    except InvalidPhoneError:
        return None
    except Exception:  # phonenumbers on text no phone looks like: still not a phone
        return None


def masked(phone: str) -> str:
    """A stored E.164 number as logs may show it."""
    parsed = msisdn(phone)
    return parsed.masked if parsed is not None else "(no number)"


# --- writing to the store ---------------------------------------------------------------------


@contextmanager
def store_failures(what: str) -> Iterator[None]:
    """An error inside (the store, a runtime callback) is ours, not the caller's: 503, so that
    the provider retries."""
    try:
        yield
    except Reject:
        raise
    except Exception as error:
        # An outage (another process holds SQLite's lock, MongoDB unreachable) is said once
        # by the store, and each refusal by the 503's own line: no traceback per request.
        if is_unavailable(error):
            log.debug("%s: store unavailable: %s", what, error)
        else:
            log.exception("%s: recording the event failed", what)
        raise Reject(503, "temporarily unable to store the event; retry later") from None


async def store_inbound(
    store: Store, inbound: NewInbound, on_inbound: Callable[[], None] | None, name: str
) -> tuple[InboxEntry, bool]:
    """Append an inbound event durably (once per provider id) and wake the runtime when new."""
    with store_failures(name):
        entry, new = await store.append_inbound(inbound)
    if new and on_inbound is not None:
        try:
            on_inbound()
        except Exception:  # the event is stored: the runtime's poll finds it anyway
            log.exception("%s: waking the runtime failed", name)
    # A new message is routine (debug: `causette serve -v`); formatting a line for each cost
    # 2.5% of the server's CPU at 1,000 MO/s (benchmarks/turns.py --profile). A duplicate, a
    # provider's retry, stays worth a line.
    log.log(
        logging.DEBUG if new else logging.INFO,
        "%s: %s %s from %s for bot %s (inbox seq %s)",
        name,
        "stored" if new else "duplicate",
        inbound.provider_id[:40],
        masked(inbound.phone),
        inbound.bot_id,
        entry.seq,
    )
    return entry, new


class ReceiptOutcome(StrEnum):
    """What a receipt (delivery report, RBM user or server event) did to the outbox."""

    UPDATED = "updated"  # the entry's status changed
    NOTED = "noted"  # status unchanged, the report recorded in the entry's history
    UNCHANGED = "unchanged"  # nothing to do: a duplicate, or late news of a settled entry
    UNKNOWN = "unknown"  # no outbox entry has this provider id
    FOREIGN = "foreign"  # the entry belongs to another bot than the one the request is for
    PENDING = "pending"  # the entry waits for the router to record the send the receipt proves


def advances(current: OutboxStatus, new: OutboxStatus) -> bool:
    """Whether a receipt saying `new` may replace `current`: a final status is never
    downgraded nor changed, except `read` after `delivered` (`OutboxStatus.final`)."""
    if current.final:
        return current is OutboxStatus.DELIVERED and new is OutboxStatus.READ
    return True


async def apply_receipt(
    store: Store,
    clock: Clock,
    provider_id: str,
    *,
    status: OutboxStatus | None,
    detail: str | None,
    bot_id: str | None,
    name: str,
    operator: str | None = None,
) -> ReceiptOutcome:
    """Record a receipt on the outbox entry sent as `provider_id`.

    `status` None records `detail` in the history without changing the status (a report
    that is not final news: ENROUTE, a failed TTL revoke), once however often it is
    delivered, and not after the entry is settled. `bot_id`, when known, must own the entry.
    A receipt for an id the entry was sent under before its latest one (the RCS copy of a
    message that fell back to SMS) is only noted. `revoked` (RBM's TTL revoke) makes the entry
    due at once for its SMS. A delivery (`delivered`, or `read` first) is written on the
    message's ledger entries too, with the `operator` the report names (R9).
    The read and the write are not one transaction: two receipts of one message racing can
    both apply, but each only moves the status forward.
    """
    with store_failures(name):
        entry = await store.find_outbound_by_provider_id(provider_id)
        if entry is None:
            log.info("%s: receipt for unknown message %s ignored", name, provider_id[:40])
            return ReceiptOutcome.UNKNOWN
        if bot_id is not None and entry.bot_id != bot_id:
            log.warning(
                "%s: receipt for outbox %s of bot %s arrived for bot %s; ignored",
                name,
                entry.key,
                entry.bot_id,
                bot_id,
            )
            return ReceiptOutcome.FOREIGN
        if awaiting_report(entry):
            # A report proved an unconfirmed SMS (store/unconfirmed_sms.py): the router records
            # it as sent and bills it first; this receipt is taken when posted again.
            return ReceiptOutcome.PENDING
        earlier = entry.provider_id is not None and provider_id != entry.provider_id
        if earlier:
            # The message was sent again under another id (RCS revoked, then SMS): news of
            # the earlier copy is history, not the message's status (rbm.md §2's race), and
            # is written even once the message is settled.
            status, detail = None, f"earlier copy: {status.value if status else detail}"
        outcome = await _apply(store, clock, entry, status, detail, note_settled=earlier)
        if status in (OutboxStatus.DELIVERED, OutboxStatus.READ):
            await store.note_ledger_delivery(entry.key, clock.now(), operator)
    log.info(
        "%s: receipt %s for outbox %s (%s): %s",
        name,
        status.value if status is not None else detail,
        entry.key,
        entry.status.value,
        outcome.value,
    )
    return outcome


async def _apply(
    store: Store,
    clock: Clock,
    entry: OutboxEntry,
    status: OutboxStatus | None,
    detail: str | None,
    *,
    note_settled: bool = False,
) -> ReceiptOutcome:
    if status is not None:
        if entry.status is status or not advances(entry.status, status):
            return ReceiptOutcome.UNCHANGED
        if status is OutboxStatus.REVOKED:
            # RBM revoked it at its ttl: the dispatcher sends the SMS rendering now.
            now = clock.now()
            await store.mark_outbound(
                entry.key, status, now, detail=detail, route=Channel.SMS, due_at=now
            )
        else:
            await store.mark_outbound(entry.key, status, clock.now(), detail=detail)
        return ReceiptOutcome.UPDATED
    if (entry.status.final and not note_settled) or _noted(entry, detail):
        return ReceiptOutcome.UNCHANGED
    await store.mark_outbound(entry.key, entry.status, clock.now(), detail=detail)
    return ReceiptOutcome.NOTED


def _noted(entry: OutboxEntry, detail: str | None) -> bool:
    return any(
        change.get("status") == entry.status.value and change.get("detail") == detail
        for change in entry.history
    )
