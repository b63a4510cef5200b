"""A business's webhook: the events a conversation gives rise to (ended, handed off, a message
that never arrives), signed posts to its URL, retries until the business answers or the event
is too old — on a fake clock, against a real HTTP receiver over loopback."""

from __future__ import annotations

import asyncio
import json
import random
import textwrap
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bots.business_events import (
    EVENT_HEADER,
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    retry_delay,
    sign,
    verify_signature,
)
from bots.business_webhooks import BusinessWebhooks, Endpoint, endpoints_from
from bots.config import ConfigError, Settings, load_settings
from bots.outbox import RecordingSender
from bots.runtime import Runtime
from bots.webhook_settings import TOLD, BusinessWebhookSettings
from bots.worker import BotProfile
from compliance.keywords import DEFAULT_START, DEFAULT_STOP, Keywords
from messaging.channel import Channel
from messaging.clock import FakeClock
from messaging.inbound import InboundText
from store.business_events_records import BusinessEvent, EventKind, EventStatus
from store.records import InboxSource, OutboxStatus
from store.sqlite import SqliteStore
from tests.bots.deployment import run_cli

SECRET = "whsec-test-0123456789"
PHONE = "+33612345678"
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
FLOW = """\
flow: rdv
start: ask
vars: {confirmed: false}
states:
  ask:
    say: "Rendez-vous du 12 ? 1 oui, 2 parler à quelqu'un"
    on:
      - text: "^1$"
        set: {confirmed: true}
        goto: confirmed
      - text: "^2$"
        goto: human
  confirmed: {say: "Merci !", end: true}
  human:
    handoff: {queue: accueil, say: "Un conseiller vous répond."}
"""


@dataclass
class Receiver:
    """The business's endpoint: answers each post with the next scripted status (200 once
    the script is spent) and keeps what came."""

    statuses: list[int] = field(default_factory=list)
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.posts.append((dict(request.headers), await request.read()))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)

    def bodies(self) -> list[dict[str, object]]:
        return [json.loads(raw) for _, raw in self.posts]


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
async def url(receiver: Receiver) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    server = TestServer(app)
    await server.start_server()
    yield str(server.make_url("/hook"))
    await server.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
async def runtime(
    tmp_path: Path, clock: FakeClock, sender: RecordingSender
) -> AsyncIterator[Runtime]:
    flow = tmp_path / "rdv.yaml"
    flow.write_text(textwrap.dedent(FLOW), encoding="utf-8")
    profile = BotProfile(
        "rdv",
        channel=Channel.SMS,
        keywords=Keywords(stop=DEFAULT_STOP, start=DEFAULT_START),
        events=frozenset(TOLD),
    )
    quiet = BotProfile("quiet", channel=Channel.SMS)  # no webhook: tells nothing
    runtime = Runtime(
        SqliteStore(tmp_path / "causette.db"),
        {"rdv": profile, "quiet": quiet},
        {"rdv": flow, "quiet": flow},
        clock=clock,
        sender=sender,
        owner="w1",
    )
    await runtime.open()
    yield runtime
    await runtime.close()


@pytest.fixture
async def webhooks(runtime: Runtime, url: str, clock: FakeClock) -> AsyncIterator[BusinessWebhooks]:
    settings = BusinessWebhookSettings(url=url, secret_env="SECRET")
    async with aiohttp.ClientSession() as session:
        yield BusinessWebhooks(
            runtime.store,
            {"rdv": Endpoint(settings, SECRET)},
            session,
            clock=clock,
            rng=random.Random(7),
        )


async def say(runtime: Runtime, text: str, provider_id: str, bot: str = "rdv") -> None:
    message = InboundText(text=text)
    await runtime.receive(bot, PHONE, message, source=InboxSource.SMSMODE, provider_id=provider_id)
    await runtime.run_until_idle()


async def test_an_ended_conversation_is_told_once_signed(
    runtime: Runtime, webhooks: BusinessWebhooks, receiver: Receiver, clock: FakeClock
) -> None:
    await runtime.start_conversation("rdv", PHONE, key="k1")
    await runtime.run_until_idle()
    await say(runtime, "1", "m1")
    await say(runtime, "1", "m1")  # the provider's retry: the same turn, no second event
    attempts = await webhooks.deliver_due()
    assert [a.status for a in attempts] == [200]
    assert await webhooks.deliver_due() == []  # delivered: never again
    ((headers, raw),) = receiver.posts
    assert verify_signature(SECRET, headers[SIGNATURE_HEADER], raw, clock.now())
    assert not verify_signature("another-secret", headers[SIGNATURE_HEADER], raw, clock.now())
    (body,) = receiver.bodies()
    assert headers[EVENT_HEADER] == "conversation.ended" == body["type"]
    assert headers[EVENT_ID_HEADER] == body["id"] == "conversation.ended:rdv-1"
    assert body["phone"] == PHONE  # the business's own customer
    assert body["data"] == {
        "state": "confirmed",
        "channel": "sms",
        "reason": "flow",
        "vars": {"confirmed": True},
        "started_at": START.isoformat(),
    }
    (stored,) = await runtime.store.business_events()
    assert (stored.status, stored.attempts) == (EventStatus.DELIVERED, 1)


async def test_a_handoff_is_told_with_its_queue(
    runtime: Runtime, webhooks: BusinessWebhooks, receiver: Receiver
) -> None:
    await runtime.start_conversation("rdv", PHONE, key="k1")
    await runtime.run_until_idle()
    await say(runtime, "2", "m1")
    await say(runtime, "encore là ?", "m2")  # the person writes on: no second handoff
    await webhooks.deliver_due()
    (body,) = receiver.bodies()
    assert body["type"] == "handoff.requested"
    assert body["data"] == {
        "state": "human",
        "channel": "sms",
        "queue": "accueil",
        "vars": {"confirmed": False},
    }


async def test_stop_ends_the_conversation_with_its_reason(
    runtime: Runtime, webhooks: BusinessWebhooks, receiver: Receiver
) -> None:
    await runtime.start_conversation("rdv", PHONE, key="k1")
    await runtime.run_until_idle()
    await say(runtime, "STOP", "m1")
    await webhooks.deliver_due()
    (body,) = receiver.bodies()
    assert (body["type"], body["data"]["reason"]) == ("conversation.ended", "opt_out")  # type: ignore[index]


async def test_an_end_through_the_admin_api_is_told_once(
    runtime: Runtime, webhooks: BusinessWebhooks, receiver: Receiver
) -> None:
    await runtime.start_conversation("rdv", PHONE, key="k1")
    await runtime.run_until_idle()
    await say(runtime, "2", "m1")  # handed off: a person takes it, then ends it
    await runtime.changes.end("rdv-1")
    await runtime.changes.end("rdv-1")  # ended already: nothing more
    await webhooks.deliver_due()
    told = {(b["type"], b["data"].get("reason")) for b in receiver.bodies()}  # type: ignore[attr-defined]
    assert told == {("handoff.requested", None), ("conversation.ended", "admin")}
    assert len(receiver.posts) == 2


async def test_a_bot_without_a_webhook_tells_nothing(
    runtime: Runtime, webhooks: BusinessWebhooks, receiver: Receiver
) -> None:
    await runtime.start_conversation("quiet", PHONE, key="k1")
    await runtime.run_until_idle()
    await say(runtime, "1", "m1", bot="quiet")
    assert await runtime.store.business_events() == []
    assert await webhooks.deliver_due() == []


async def test_a_message_that_never_arrives_is_told(
    runtime: Runtime, webhooks: BusinessWebhooks, receiver: Receiver, sender: RecordingSender
) -> None:
    await runtime.start_conversation("rdv", PHONE, key="k1")
    await runtime.run_until_idle()
    key = sender.sent[0].key
    await runtime.store.mark_outbound(key, OutboxStatus.EXPIRED, START, detail="24 h passed (R4)")
    await webhooks.deliver_due()
    (body,) = receiver.bodies()
    assert body["type"] == "message.failed"
    assert body["data"] == {
        "message": key,
        "status": "expired",
        "channel": "sms",
        "detail": "24 h passed (R4)",
    }


async def test_failures_are_retried_with_growing_waits_then_delivered(
    runtime: Runtime, webhooks: BusinessWebhooks, receiver: Receiver, clock: FakeClock
) -> None:
    receiver.statuses = [503, 500]
    await runtime.store.add_business_events([ended_event()])
    assert [a.status for a in await webhooks.deliver_due()] == [503]
    (waiting,) = await runtime.store.business_events()
    assert (waiting.status, waiting.last_error) == (EventStatus.PENDING, "503 Service Unavailable")
    assert waiting.next_at is not None
    first_wait = waiting.next_at - clock.now()
    assert timedelta(seconds=15) <= first_wait <= timedelta(seconds=30)
    assert await webhooks.deliver_due() == []  # not before its time
    clock.advance(first_wait)
    assert [a.status for a in await webhooks.deliver_due()] == [500]
    (waiting,) = await runtime.store.business_events()
    assert waiting.next_at is not None
    assert timedelta(seconds=30) <= waiting.next_at - clock.now() <= timedelta(minutes=1)
    clock.advance(waiting.next_at - clock.now())
    assert [a.status for a in await webhooks.deliver_due()] == [200]
    (done,) = await runtime.store.business_events()
    assert (done.status, done.attempts) == (EventStatus.DELIVERED, 3)
    # Every attempt carried the same body, each signed at its own time.
    assert len({raw for _, raw in receiver.posts}) == 1
    assert len({headers[SIGNATURE_HEADER] for headers, _ in receiver.posts}) == 3


async def test_an_event_is_given_up_after_a_day_or_at_once_on_410(
    runtime: Runtime, webhooks: BusinessWebhooks, receiver: Receiver, clock: FakeClock
) -> None:
    receiver.statuses = [503] * 100
    await runtime.store.add_business_events([ended_event("a")])
    while (await runtime.store.business_events(status=EventStatus.PENDING)) != []:
        await webhooks.deliver_due()
        clock.advance(timedelta(hours=1))
    (failed,) = await runtime.store.business_events()
    assert failed.status is EventStatus.FAILED
    assert failed.settled_at is not None
    assert failed.settled_at - START <= timedelta(hours=25)
    assert 20 <= failed.attempts <= 30  # waits doubling to an hour, for a day

    receiver.statuses = [410]
    await runtime.store.add_business_events([ended_event("b")])
    await webhooks.deliver_due()
    (gone,) = await runtime.store.business_events(status=EventStatus.FAILED, limit=1)
    assert (gone.id, gone.attempts, gone.last_error) == (ended_event("b").id, 1, "410 Gone")


async def test_an_unreachable_endpoint_is_tried_again(
    runtime: Runtime, receiver: Receiver, clock: FakeClock
) -> None:
    settings = BusinessWebhookSettings(url="http://127.0.0.1:9/hook", secret_env="S")
    async with aiohttp.ClientSession() as session:
        webhooks = BusinessWebhooks(
            runtime.store, {"rdv": Endpoint(settings, SECRET)}, session, clock=clock
        )
        await runtime.store.add_business_events([ended_event()])
        (attempt,) = await webhooks.deliver_due()
    assert (attempt.status, attempt.delivered) == (None, False)
    (waiting,) = await runtime.store.business_events()
    assert waiting.status is EventStatus.PENDING
    assert waiting.last_error == "ClientConnectorError"


async def test_an_event_of_a_bot_without_a_webhook_is_dropped(
    runtime: Runtime, webhooks: BusinessWebhooks, receiver: Receiver
) -> None:
    await runtime.store.add_business_events([ended_event(bot="quiet")])
    await webhooks.deliver_due()
    (dropped,) = await runtime.store.business_events()
    assert dropped.status is EventStatus.DROPPED
    assert receiver.posts == []


def ended_event(conversation: str = "rdv-9", bot: str = "rdv") -> BusinessEvent:
    return BusinessEvent(
        f"conversation.ended:{conversation}",
        bot,
        EventKind.CONVERSATION_ENDED,
        PHONE,
        conversation,
        {},
        START,
    )


# --- the signature ---------------------------------------------------------------------


def test_a_signature_holds_for_its_body_and_time_only() -> None:
    body = b'{"id": "x"}'
    header = sign(SECRET, body, START)
    assert header.startswith(f"t={int(START.timestamp())},v1=")
    assert verify_signature(SECRET, header, body, START + timedelta(minutes=4))
    assert not verify_signature(SECRET, header, body, START + timedelta(minutes=6))  # replayed
    assert not verify_signature(SECRET, header, b'{"id": "y"}', START)
    rotated = f"{header},v1={'0' * 64}"
    assert verify_signature(SECRET, rotated, body, START)
    for broken in ("", "v1=abc", "t=abc,v1=abc", f"t={int(START.timestamp())}"):
        assert not verify_signature(SECRET, broken, body, START)


def test_retry_waits_double_up_to_an_hour() -> None:
    rng = random.Random(1)
    waits = [retry_delay(n, rng) for n in range(1, 12)]
    assert timedelta(seconds=15) <= waits[0] <= timedelta(seconds=30)
    assert all(timedelta(minutes=30) <= wait <= timedelta(hours=1) for wait in waits[8:])


# --- the configuration -----------------------------------------------------------------


def write_settings(tmp_path: Path, webhook: str, environ: dict[str, str]) -> Settings:
    flow = tmp_path / "rdv.yaml"
    flow.write_text(textwrap.dedent(FLOW), encoding="utf-8")
    config = tmp_path / "bots.yaml"
    config.write_text(
        f"store: sqlite://{tmp_path / 'c.db'}\nbots:\n  - id: rdv\n    flow: rdv.yaml\n"
        + textwrap.indent(webhook, "    "),
        encoding="utf-8",
    )
    return load_settings(config, environ)


def test_a_webhook_takes_every_event_by_default(tmp_path: Path) -> None:
    block = "webhook:\n  url: https://crm.example.fr/h\n  secret_env: CRM\n"
    webhook = write_settings(tmp_path, block, {"CRM": "s"}).bot("rdv").webhook
    assert webhook is not None
    assert webhook.kinds() == TOLD
    assert endpoints_from({"rdv": webhook}, {"CRM": "s"})["rdv"].secret == "s"
    with pytest.raises(ConfigError, match="CRM"):  # no unsigned posts: the server won't start
        write_settings(tmp_path, block, {})


def test_an_unknown_event_or_url_is_refused(tmp_path: Path) -> None:
    environ = {"CRM": "s"}
    block = "webhook:\n  url: https://crm.example.fr/h\n  secret_env: CRM\n  events: [ping]\n"
    with pytest.raises(ConfigError, match="`ping` is not an event a webhook can take"):
        write_settings(tmp_path, block, environ)
    with pytest.raises(ConfigError, match="url"):
        write_settings(tmp_path, "webhook:\n  url: pas-une-url\n  secret_env: CRM\n", environ)


# --- the command line ------------------------------------------------------------------


class _Hook(BaseHTTPRequestHandler):
    answers: ClassVar[list[int]] = []
    received: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.headers[SIGNATURE_HEADER], raw))
        self.send_response(type(self).answers.pop(0) if type(self).answers else 204)
        self.end_headers()

    def log_message(self, *args: object) -> None:  # quiet test output
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()
    _Hook.received.clear()


def test_ping_posts_a_signed_event_and_says_how_it_went(tmp_path: Path, hook: str) -> None:
    block = f"webhook:\n  url: {hook}\n  secret_env: CRM\n"
    write_settings(tmp_path, block, {"CRM": SECRET})
    config = str(tmp_path / "bots.yaml")
    code, out, _ = run_cli("webhooks", "ping", "rdv", "--config", config, env={"CRM": SECRET})
    assert (code, out.strip()) == (0, f"{hook}: 204")
    ((header, raw),) = _Hook.received
    assert verify_signature(SECRET, header, raw, datetime.now(UTC))
    assert json.loads(raw)["type"] == "ping"

    _Hook.answers = [401]  # the business checks with another key
    code, _, err = run_cli("webhooks", "ping", "rdv", "--config", config, env={"CRM": SECRET})
    assert (code, err.strip()) == (1, f"{hook}: 401 Unauthorized")
    code, _, err = run_cli("webhooks", "ping", "nope", "--config", config, env={"CRM": SECRET})
    assert code == 2
    assert "no bot nope with a webhook" in err


def test_events_lists_the_newest_first_phones_masked(tmp_path: Path) -> None:
    block = "webhook:\n  url: https://crm.example.fr/h\n  secret_env: CRM\n"
    settings = write_settings(tmp_path, block, {"CRM": SECRET})

    async def fill() -> None:
        async with SqliteStore(settings.store.removeprefix("sqlite://")) as store:
            await store.add_business_events([ended_event("rdv-1"), ended_event("rdv-2")])
            await store.settle_business_event(
                "conversation.ended:rdv-1", EventStatus.DELIVERED, START
            )

    asyncio.run(fill())
    config = str(tmp_path / "bots.yaml")
    code, out, _ = run_cli("webhooks", "events", "--config", config, "--json", env={"CRM": "s"})
    assert code == 0
    rows = json.loads(out)
    assert [(r["conversation"], r["status"]) for r in rows] == [
        ("rdv-2", "pending"),
        ("rdv-1", "delivered"),
    ]
    assert PHONE not in out
    code, out, _ = run_cli(
        "webhooks", "events", "--config", config, "--status", "pending", env={"CRM": "s"}
    )
    assert code == 0
    assert "rdv-2" in out
    assert "rdv-1" not in out
