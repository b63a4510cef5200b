"""Several `causette serve` processes on one MongoDB (issue 9, item 4; docs/runtime.md,
"Several processes").

Two real servers (subprocesses) share a SecantusDB database behind a round-robin balancer;
the RBM and smsmode emulators run in the test process and carry a mixed load: RCS-capable and
SMS-only phones, each sending several messages in a row to the echo bot, whose every reply
numbers its turn (`n:text`). From the phones' records: every conversation got each reply
exactly once and in order, on the channel its phone takes. From the store: each conversation
handled its events in arrival order. Then the same with one server killed (SIGKILL) in the
middle of the load: its leases lapse and the other finishes its work, nothing lost, nothing
twice but an SMS the killed server was sending (smsmode has no idempotency key: counted and
printed, and checked to be that case). And `--workers`: SQLite refused; two processes on one
port, a killed one started again, SIGTERM stops them all.

No test sleeps to wait for an outcome: each waits for a state with a deadline.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import aiohttp
import pytest
from aiohttp.test_utils import unused_port

from flows.validation import check_text
from sandbox.phonebook import Network
from store.mongodb import MongoStore
from store.numbers_records import NumberRecord
from store.records import Direction, OutboxStatus
from tests.bots.deployment import run_cli
from tests.runtime.serve_harness import (
    BOT,
    ECHO,
    NUMBER,
    Balancer,
    Providers,
    ServeProcess,
    database_uri,
    start_providers,
    start_serve,
    write_config,
)
from tests.store.mongo_server import drop_database

RCS_PHONES = [f"+3361200{n:04d}" for n in range(6)]
SMS_PHONES = [f"+3378800{n:04d}" for n in range(4)]
MESSAGES = 5
"""Messages each phone sends, one right after the other (they queue in its conversation)."""
DEADLINE = 240.0
"""Seconds a scenario may take before the test fails (SecantusDB is slow, not that slow)."""
TAKEOVER = 150.0
"""Seconds the surviving server gets to finish the killed one's work. A transaction the killed
server was committing stays open on the server, holding its conversation's lease, until the
server drops it (`transactionLifetimeLimitSeconds`, 60 s, as SecantusDB does)."""
SEED = 20261126


@pytest.fixture
async def store_url(mongodb_uri: str) -> AsyncIterator[str]:
    name = f"causette_serve_{uuid4().hex}"
    yield database_uri(mongodb_uri, name)
    await drop_database(mongodb_uri, name)


def test_the_echo_flow_is_valid() -> None:
    flow, problems = check_text(ECHO, "echo.yaml")
    assert flow is not None
    assert problems == []


@dataclass
class Deployment:
    providers: Providers
    balancer: Balancer
    servers: list[ServeProcess]
    store_url: str


async def declare_number(store_url: str) -> None:
    """R11: the bot's 09 number is declared before `causette serve` lets it go live."""
    async with MongoStore(store_url) as store:
        await store.declare_number(
            NumberRecord(NUMBER, {"number": NUMBER}, datetime.now(UTC), bot_id=BOT)
        )


async def deploy(store_url: str, tmp_path: Path, servers: int) -> Deployment:
    await declare_number(store_url)
    balancer = Balancer()
    balancer_url = await balancer.start()
    phones = dict.fromkeys(RCS_PHONES, Network.RCS)
    phones |= dict.fromkeys(SMS_PHONES, Network.SMS)
    providers = await start_providers(phones, balancer_url, SEED)
    config = write_config(tmp_path, store_url, providers, balancer_url)
    deployment = Deployment(providers, balancer, [], store_url)
    try:
        for index in range(servers):
            log = tmp_path / f"serve-{index}.log"
            deployment.servers.append(await start_serve(config, unused_port(), log, providers.key))
            balancer.backends.append(deployment.servers[-1].url)
    except BaseException:
        await tear_down(deployment)
        raise
    return deployment


async def tear_down(deployment: Deployment) -> None:
    for server in deployment.servers:
        await server.stop()
        print(f"--- {server.url}\n{server.output()}")  # shown by pytest when the test failed
    await deployment.providers.close()
    await deployment.balancer.close()


async def send_load(providers: Providers, messages: range) -> None:
    """Each phone sends `messages` in a row, all phones at once. An SMS phone writes to the
    bot's 09 number; an RCS phone answers in the thread the bot last wrote in."""

    async def phone(number: str) -> None:
        for index in messages:
            body = {"text": f"m{index}"}
            if number in SMS_PHONES:
                body["to"] = NUMBER[1:]
            await providers.phonebook.act(number, body)

    await asyncio.gather(*(phone(number) for number in RCS_PHONES + SMS_PHONES))


async def until_replied(providers: Providers, count: int) -> None:
    """Until every phone has `count` replies (a bounded wait: real processes are working)."""
    while any(len(set(providers.texts(n))) < count for n in RCS_PHONES + SMS_PHONES):
        await asyncio.sleep(0.1)


async def diagnose(deployment: Deployment) -> str:
    """What each phone short of replies got, and its conversation's inbox and outbox."""
    lines = []
    async with MongoStore(deployment.store_url) as store:
        lines.append(f"inbox depth {await store.inbox_depth()}, {await store.outbox_depth()}")
        for number in RCS_PHONES + SMS_PHONES:
            texts = deployment.providers.texts(number)
            if len(set(texts)) >= MESSAGES:
                continue
            lines.append(f"{number}: {texts}")
            conversation = await store.get_conversation(BOT, number)
            if conversation is None:
                continue
            lines.append(f"  n={conversation.vars.get('n')} last={conversation.last_inbox_seq}")
            lines += [f"  {line.key} {line.body}" for line in await store.history(conversation.id)]
            for entry in await store.conversation_outbound(conversation.id):
                lines.append(f"  {entry.key} {entry.status} {entry.attempts} {entry.history}")
    return "\n".join(lines)


async def until_replies(providers: Providers, total: int) -> None:
    """Until the phones have `total` replies between them (a bounded wait, as above)."""
    while sum(len(providers.texts(n)) for n in RCS_PHONES + SMS_PHONES) < total:
        await asyncio.sleep(0.05)


async def check(deployment: Deployment, *, killed: bool = False) -> int:
    """Every phone got each reply once, in order, on its channel; each conversation handled
    its events in arrival order. With `killed`, an SMS may have arrived twice in a row, only
    if the killed process was sending it when it died (docs/runtime.md: smsmode has no
    idempotency key): returns how many did."""
    providers, resent = deployment.providers, 0
    async with MongoStore(deployment.store_url) as store:
        assert await store.inbox_depth() == 0
        depth = await store.outbox_depth()
        total = len(RCS_PHONES + SMS_PHONES) * MESSAGES
        assert sum(depth.values()) == total, depth
        assert set(depth) <= {OutboxStatus.SENT, OutboxStatus.DELIVERED, OutboxStatus.READ}
        for number in RCS_PHONES + SMS_PHONES:
            conversation = await store.get_conversation(BOT, number)
            assert conversation is not None
            assert conversation.vars["n"] == MESSAGES
            outbound = await store.conversation_outbound(conversation.id)
            by_text = {str(entry.content.get("text")): entry for entry in outbound}
            texts = providers.texts(number)
            replies = [text for i, text in enumerate(texts) if i == 0 or text != texts[i - 1]]
            for doubled in (text for i, text in enumerate(texts) if i and text == texts[i - 1]):
                assert killed, (number, texts)
                assert number in SMS_PHONES, (number, texts)  # RBM ignores a known messageId
                entry = by_text[doubled]
                sends = [line for line in entry.history if line["status"] == "sending"]
                assert len(sends) >= 2, (number, entry.history)  # taken over mid-send
                resent += 1
            # The k-th reply numbers the k-th turn and echoes a message of the phone: each
            # turn once, each message once, the replies in the order of the turns.
            counters = [text.split(":", 1)[0] for text in replies]
            assert counters == [str(k) for k in range(1, MESSAGES + 1)], (number, texts)
            echoed = [text.split(":", 1)[1] for text in replies]
            assert sorted(echoed) == [f"m{i}" for i in range(MESSAGES)], (number, texts)
            expected = "sms" if number in SMS_PHONES else "rcs"
            assert providers.channels(number) == {expected: len(texts)}, number
            # Handled in arrival order: the k-th turn echoes the event with the k-th inbox seq
            # of the conversation.
            transcript = await store.history(conversation.id)
            arrived = sorted(
                (int(line.key.removeprefix("in:")), str(line.body["message"].get("text")))
                for line in transcript
                if line.direction is Direction.IN
            )
            assert [text for _, text in arrived] == echoed, (number, arrived, echoed)
            # Each message is known to its provider under one id (an RBM resend reuses it).
            for entry in outbound:
                assert len(entry.provider_ids) == 1, (number, entry.key, entry.history)
    return resent


async def test_two_servers_on_one_mongodb_reply_once_and_in_order(
    store_url: str, tmp_path: Path
) -> None:
    deployment = await deploy(store_url, tmp_path, servers=2)
    try:
        async with asyncio.timeout(DEADLINE):
            await send_load(deployment.providers, range(MESSAGES))
            await until_replied(deployment.providers, MESSAGES)
            await check(deployment)
    finally:
        await tear_down(deployment)
    # The balancer spread the providers' webhooks and callbacks over both servers.
    answered = deployment.balancer.answered
    assert all(answered[server.url] > 0 for server in deployment.servers), answered


async def test_a_server_killed_mid_load_loses_nothing_and_the_other_finishes_its_work(
    store_url: str, tmp_path: Path
) -> None:
    deployment = await deploy(store_url, tmp_path, servers=2)
    victim, survivor = deployment.servers
    try:
        async with asyncio.timeout(DEADLINE):
            load = asyncio.create_task(send_load(deployment.providers, range(MESSAGES)))
            # Killed once a fifth of the replies are out: MOs, turns, sends and receipts are
            # in flight in both servers.
            await until_replies(deployment.providers, len(RCS_PHONES + SMS_PHONES) * MESSAGES // 5)
            victim.kill(signal.SIGKILL)
            await victim.process.wait()
            await load
            try:
                async with asyncio.timeout(TAKEOVER):
                    await until_replied(deployment.providers, MESSAGES)
            except TimeoutError:
                print(await diagnose(deployment))
                raise
            resent = await check(deployment, killed=True)
    finally:
        await tear_down(deployment)
    print(f"replies: {len(RCS_PHONES + SMS_PHONES) * MESSAGES}, SMS sent again: {resent}")
    assert victim.process.returncode == -signal.SIGKILL
    assert deployment.balancer.answered[survivor.url] > 0


# --- causette serve --workers ----------------------------------------------------------------


def test_several_workers_on_sqlite_are_refused(tmp_path: Path) -> None:
    (tmp_path / "echo.yaml").write_text(ECHO, encoding="utf-8")
    config = tmp_path / "bots.yaml"
    config.write_text(f"store: sqlite://causette.db\nbots:\n  - id: {BOT}\n    flow: echo.yaml\n")
    code, _, err = run_cli("serve", "--config", str(config), "--workers", "2")
    assert code == 1
    assert "--workers 2: the store is SQLite" in err
    assert "MongoDB" in err
    assert not (tmp_path / "causette.db").exists()  # refused before anything opened it


def started_workers(text: str) -> dict[int, int]:
    """Worker index -> pid, the latest start of each, from the parent's log."""
    found = re.findall(r"worker (\d+) started \(pid (\d+)\)", text)
    return {int(index): int(pid) for index, pid in found}


async def until_logged(server: ServeProcess, pattern: str) -> re.Match[str]:
    while (match := re.search(pattern, server.output())) is None:
        if server.process.returncode is not None:
            raise AssertionError(f"causette serve exited:\n{server.output()}")
        await asyncio.sleep(0.1)  # a real process: a bounded wait loop
    return match


async def test_workers_share_one_port_restart_a_killed_one_and_stop_together(
    store_url: str, tmp_path: Path
) -> None:
    await declare_number(store_url)
    balancer = Balancer()
    balancer_url = await balancer.start()
    providers = await start_providers({}, balancer_url, SEED)
    config = write_config(tmp_path, store_url, providers, balancer_url)
    port = unused_port()
    parent = await start_serve(
        config, port, tmp_path / "workers.log", providers.key, "--workers", "2"
    )
    try:
        async with asyncio.timeout(DEADLINE):
            await until_logged(parent, r"worker 1 started")
            first = started_workers(parent.output())
            assert sorted(first) == [0, 1]
            # Both serve: each bound the shared port (without SO_REUSEPORT the second could
            # not, and would end) and started its runtime.
            for pid in first.values():
                await until_logged(parent, rf"\[{pid}\] bots.app: runtime started")
            async with aiohttp.ClientSession() as session:
                for _ in range(4):  # each connection lands on either
                    async with session.get(f"{parent.url}/healthz") as answer:
                        assert answer.status == 200
            os.kill(first[1], signal.SIGKILL)
            await until_logged(parent, rf"worker 1 \(pid {first[1]}\) ended \(signal 9\)")
            while (again := started_workers(parent.output()))[1] == first[1]:
                await asyncio.sleep(0.1)  # a real process: a bounded wait loop
            assert again[0] == first[0]
            await until_logged(parent, rf"\[{again[1]}\] bots.app: runtime started")
            assert "ended" not in parent.output().split(f"worker 1 started (pid {again[1]})")[1]
            code = await parent.stop()
    finally:
        await parent.stop()
        print(parent.output())
        await providers.close()
        await balancer.close()
    assert code == 0, parent.output()
    assert "stopping 2 worker(s)" in parent.output()
