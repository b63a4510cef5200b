"""A runtime on a real SQLite file, a fake clock and a recording sender."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bots.outbox import RecordingSender
from bots.runtime import Runtime
from bots.worker import BotProfile
from messaging.channel import Channel
from messaging.clock import FakeClock
from store.base import Store
from store.sqlite import SqliteStore
from tests.store.mongo_server import running_mongodb

FLOW = """\
flow: rdv
start: ask
vars: {date: "12 décembre"}
states:
  ask:
    say:
      text: "Bonjour {{ contact.first_name | default('à vous') }}, rendez-vous du {{ vars.date }} ?"
      suggestions:
        - {reply: Je confirme, data: confirm}
        - {reply: Annuler, data: cancel}
    on:
      - data: confirm
        goto: confirmed
      - data: cancel
        goto: cancelled
      - after: 2h
        say: Petit rappel
    otherwise:
      say: Je n'ai pas compris.
  confirmed: {say: "Merci, à bientôt !", end: true}
  cancelled: {say: C'est annulé., end: true}
"""

PHONE = "+33612345678"
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

RuntimeFactory = Callable[..., Runtime]


@pytest.fixture(scope="module")
def mongodb_uri() -> Iterator[str]:
    """A MongoDB server for the module (SecantusDB, or `CAUSETTE_TEST_MONGODB_URI`'s)."""
    with running_mongodb() as uri:
        yield uri


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    path = tmp_path / "rdv.yaml"
    path.write_text(textwrap.dedent(FLOW), encoding="utf-8")
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "causette.db"


@pytest.fixture
async def make_runtime(
    flow_file: Path, clock: FakeClock, sender: RecordingSender, db_path: Path
) -> AsyncIterator[RuntimeFactory]:
    """Builds runtimes on one SQLite file; each opened one is closed after the test."""
    opened: list[Runtime] = []

    def make(
        store: Store | None = None, owner: str = "worker-1", on: FakeClock | None = None
    ) -> Runtime:
        runtime = Runtime(
            store or SqliteStore(db_path),
            {"rdv": BotProfile("rdv", channel=Channel.SMS)},
            {"rdv": flow_file},
            clock=on or clock,
            sender=sender,
            owner=owner,
        )
        opened.append(runtime)
        return runtime

    yield make
    for runtime in opened:
        await runtime.close()
