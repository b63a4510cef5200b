"""Fixtures that run the contract suite once per backend.

`store` is a fresh, opened store per test. `backing` makes several stores over one fresh
database, standing for several processes sharing it (a SQLite file, a MongoDB database).
MongoDB runs on SecantusDB started once per session by `tests/store/mongo_server.py`, or on
the server `CAUSETTE_TEST_MONGODB_URI` names; each test gets its own database, dropped after.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import cast
from uuid import uuid4

import pytest

from store.base import Store
from store.sqlite import SqliteStore
from tests.store import StoreFactory
from tests.store.mongo_server import drop_database

BACKENDS = ("sqlite", "mongodb")


@pytest.fixture(scope="session")
def mongodb_uri() -> Iterator[str]:
    server = pytest.importorskip(
        "tests.store.mongo_server", reason="tests/store/mongo_server.py is not there yet"
    )
    pytest.importorskip("store.mongodb", reason="store/mongodb.py is not there yet")
    with server.running_mongodb() as uri:
        yield cast(str, uri)


def _mongo_factory(uri: str, database: str) -> StoreFactory:
    module = pytest.importorskip("store.mongodb", reason="store/mongodb.py is not there yet")

    def make() -> Store:
        return cast(Store, module.MongoStore(uri, database=database))

    return make


@pytest.fixture(params=BACKENDS)
async def backing(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    if request.param == "sqlite":
        path = tmp_path / "causette.db"
        yield lambda: SqliteStore(path)
        return
    uri: str = request.getfixturevalue("mongodb_uri")
    database = f"causette_test_{uuid4().hex}"
    yield _mongo_factory(uri, database)
    await drop_database(uri, database)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        async with SqliteStore(":memory:") as opened:
            yield opened
        return
    uri: str = request.getfixturevalue("mongodb_uri")
    database = f"causette_test_{uuid4().hex}"
    try:
        async with _mongo_factory(uri, database)() as opened:
            yield opened
    finally:
        await drop_database(uri, database)
