"""No phone number and no secret in the logs of an end-to-end run (issue 9, item 7).

What `causette demo` serves (the real runtime, webhooks, admin API and provider clients, with
the emulators as providers) runs with every logger at DEBUG and one handler on the root
logger keeping every record, rendered as a log file would show it (message, arguments,
traceback). The run covers both channels and the failure paths, which are where numbers and
secrets tend to slip into messages: two complete conversations (RCS and SMS, a backend
answering 500, a phone number typed by the person), the admin API (a start in national form to
a phone the emulators do not know, reads, a refused token), forged webhooks (a wrong
signature, a wrong callback path) and a STOP. Then every record is searched for every number
used, in E.164, international digits, national and spaced forms, and for every secret.

aiohttp's access log is left out: it writes request paths (the smsmode callback path is a
credential) and `causette serve` and `causette demo` run without it (`access_log=None`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bots.admin.auth import hash_token, new_token
from bots.demo import DEMO_ENV
from bots.wiring import RBM_WEBHOOK_PATH, SMSMODE_CALLBACK_PREFIX, callback_token
from messaging.phone import Phone
from store.tokens_records import ALL_BOTS, ApiToken
from tests.e2e.conftest import ANA, BRUNO, SECRETS, Demo
from tests.e2e.test_examples_end_to_end import CHANNELS, PATHS
from tests.webhooks.payloads import envelope, mo, user_text

UNKNOWN = "+33611223344"
"""A recipient no emulated phone answers to, given to the admin API in national form."""
TYPED = "+33612345678"
"""The call-back number Bruno types in the lead flow."""
NUMBERS = (ANA, BRUNO, UNKNOWN, TYPED)
IGNORED_LOGGERS = ("aiohttp.access",)


class Records(logging.Handler):
    """Every record, rendered as a log file would show it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[str, str]] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(IGNORED_LOGGERS):
            self.lines.append((record.name, self.format(record)))


@pytest.fixture
def logs() -> Iterator[Records]:
    """Every logger at DEBUG into `Records` for the test (requested before `demo`, so that the
    server's start is captured too)."""
    handler = Records()
    root = logging.getLogger()
    loggers = [root, *(logging.getLogger(name) for name in root.manager.loggerDict)]
    levels = [(logger, logger.level, logger.disabled) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    for logger, level, disabled in levels:
        logger.setLevel(level)
        logger.disabled = disabled


def forms(e164: str) -> list[str]:
    """The ways a French mobile number is written: `+33612345678`, `33612345678`,
    `0612345678`, `06 12 34 56 78`, `06.12.34.56.78`, and the nine significant digits."""
    national = "0" + e164[3:]
    pairs = [national[i : i + 2] for i in range(0, 10, 2)]
    return [e164, e164[1:], national, " ".join(pairs), ".".join(pairs), e164[3:]]


def secrets_of(demo: Demo, admin_token: str) -> dict[str, str]:
    callback_secret = demo.env["DEMO_SMSMODE_SECRET"]
    found = {name: demo.env[name] for name in DEMO_ENV if demo.env[name] != "{}"}
    found |= {name: demo.env[name] for name in SECRETS}
    found["admin token"] = admin_token
    found["admin token hash"] = hash_token(admin_token)
    for bot in demo.settings.bots:
        found[f"smsmode callback path of {bot.id}"] = callback_token(callback_secret, bot.id)
    return found


async def run_conversations(demo: Demo) -> None:
    for number in (ANA, BRUNO):
        path = PATHS["lead", number]
        for route, answer in path.answers:
            demo.backend.script(route, answer)
        person = demo.person(number)
        await demo.start("lead", number, CHANNELS[number])
        for step in path.steps:
            await step.run(person)


async def use_the_admin_api(demo: Demo, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "leak-1"}
    national = "0" + UNKNOWN[3:]
    url = f"{demo.base_url}/v1/bots/parcel/conversations"
    body = {"phone": national, "contact": {"first_name": "Chloé"}}
    async with demo.http.post(url, json=body, headers=headers) as response:
        assert response.status == 202, await response.text()
    async with demo.http.get(url, headers=headers) as response:
        assert response.status == 200
    async with demo.http.get(f"{demo.base_url}/v1/contacts", headers=headers) as response:
        assert response.status == 200
    refused = {"Authorization": f"Bearer {token}x"}
    async with demo.http.get(url, headers=refused) as response:
        assert response.status == 401


async def forge_webhooks(demo: Demo) -> None:
    payload = json.dumps(user_text("MxForged", "Bonjour", phone=ANA)).encode()
    headers = {"X-Goog-Signature": "AAAA", "Content-Type": "application/json"}
    url = demo.base_url + RBM_WEBHOOK_PATH
    async with demo.http.post(url, json=envelope(payload), headers=headers) as response:
        assert response.status == 401
    body = mo("mo-forged", sender=BRUNO[1:])
    url = f"{demo.base_url}{SMSMODE_CALLBACK_PREFIX}/{'0' * 32}"
    async with demo.http.post(url, json=body) as response:
        assert response.status == 404


async def test_the_logs_of_an_end_to_end_run_hold_no_number_and_no_secret(
    logs: Records, demo: Demo
) -> None:
    token = new_token()
    now = datetime.now(UTC)
    await demo.runtime.store.save_token(
        ApiToken("t-ops", "ops", hash_token(token), (ALL_BOTS,), now)
    )

    await run_conversations(demo)
    await use_the_admin_api(demo, token)
    await forge_webhooks(demo)
    bruno = demo.person(BRUNO)
    await bruno.say("STOP")
    await bruno.expect("vous ne recevrez plus nos messages commerciaux")

    assert len(logs.lines) > 20, "the run logged almost nothing: is the capture wired?"
    # The numbers were there to leak: the records name them, masked.
    assert any(Phone(ANA).masked in line for _, line in logs.lines)
    assert leaks_in(logs.lines, secrets_of(demo, token)) == []


def leaks_in(lines: list[tuple[str, str]], secrets: dict[str, str]) -> list[str]:
    """`what in logger: line` for each number (any form, not inside a longer number) or
    secret found in a line."""
    found = []
    for name, line in lines:
        for number in NUMBERS:
            for written in forms(number):
                if re.search(rf"(?<!\d){re.escape(written)}(?!\d)", line):
                    found.append(f"{written} in {name}: {line}")
        found += [f"{what} in {name}: {line}" for what, secret in secrets.items() if secret in line]
    return found


def test_the_search_finds_each_form_and_each_secret() -> None:
    secrets = {"admin token": "cst_abc"}
    for line in [*(f"sent to {form}." for form in forms(BRUNO)), "token cst_abc used"]:
        assert leaks_in([("x", line)], secrets), line
    clean = f"masked {Phone(BRUNO).masked}, outbox 0{BRUNO[3:]}1, seq 1{BRUNO[1:]}"
    assert leaks_in([("x", clean)], secrets) == []
