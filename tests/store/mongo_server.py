"""A MongoDB server for the store tests: the one `CAUSETTE_TEST_MONGODB_URI` names, or a
SecantusDB (a wire-compatible server in Python, GPL, test-only) started on a free loopback
port with in-memory storage and stopped afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from pymongo import AsyncMongoClient, MongoClient
from pymongo.errors import PyMongoError

URI_VARIABLE = "CAUSETTE_TEST_MONGODB_URI"
STARTUP_TIMEOUT = 20.0
"""Seconds SecantusDB gets to answer a ping (it imports a lot before it listens)."""
STOP_GRACE = 5.0
HOST = "127.0.0.1"


async def drop_database(uri: str, database: str) -> None:
    """Drop a test's own database, through a client of its own."""
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        uri, serverSelectionTimeoutMS=5000
    )
    try:
        await client.drop_database(database)
    finally:
        await client.close()


@contextmanager
def running_mongodb() -> Iterator[str]:
    """Yield a MongoDB URI, starting (and finally stopping) SecantusDB when none is given."""
    given = os.environ.get(URI_VARIABLE)
    if given:
        yield given
        return
    port = _free_port()
    # SecantusDB answers `hello` as the primary of a one-node replica set ("secantus"), so
    # the store sees transactions; directConnection keeps the driver on this one address
    # instead of discovering the set's members from that reply.
    uri = f"mongodb://{HOST}:{port}/?directConnection=true"
    command = [_executable(), "--host", HOST, "--port", str(port), "--storage-path", ":memory:"]
    # A file, not a pipe: nobody reads the log while tests run, and a full pipe would block it.
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_ready(uri, server, log)
            yield uri
        finally:
            _stop(server)


def _executable() -> str:
    beside = Path(sys.executable).parent / "secantusd-py"  # the virtualenv's bin, unresolved
    found = str(beside) if beside.exists() else shutil.which("secantusd-py")
    if found is None:
        raise RuntimeError(
            f"secantusd-py not found: `pip install --pre secantusdb`, or set {URI_VARIABLE}"
        )
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_ready(uri: str, server: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"SecantusDB exited with {server.returncode}:\n{_tail(log)}")
        client: MongoClient[dict[str, Any]] = MongoClient(
            uri, serverSelectionTimeoutMS=250, connectTimeoutMS=250
        )
        try:
            with client:
                client.admin.command("ping")
                return
        except PyMongoError:
            time.sleep(0.1)
    raise RuntimeError(f"SecantusDB did not answer within {STARTUP_TIMEOUT:g} s:\n{_tail(log)}")


def _tail(log: IO[bytes], size: int = 4000) -> str:
    log.flush()
    log.seek(0, os.SEEK_END)
    log.seek(max(0, log.tell() - size))
    return log.read().decode(errors="replace")


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
