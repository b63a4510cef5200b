"""The servers `benchmarks/turns.py` measures, each in a process of its own, and their control.

- `causette`: what `causette serve` runs (`bots.serve.serve`: the runtime's worker, timers and
  outbox dispatcher with the fallback router, the webhooks, the admin API) on a `bots.yaml`
  written by `write_config`: one bot whose flow answers every message with one SMS, on a
  Time2Chat number, smsmode pointed at the emulator of the load generator's process.
- `baseline`: the least a server can do for the same turn, written here with aiohttp: read
  the smsmode MO callback and parse its JSON, store it with one durable write (SQLite in WAL
  mode with `synchronous=NORMAL`, autocommit, as `store/sqlite.py` sets its connection; or
  one MongoDB insert), answer 200, then POST the reply to the emulator's `/sms/v1/messages`.
- `null`: answers 200 to anything, unread: it measures the load generator's own ceiling.

Run as `python -m benchmarks.turns_servers KIND ...` by `ServerProcess`; the parent waits for
`GET /healthz` before it offers load and stops the server with SIGTERM after it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
BOT = "echo"
NUMBER = "+33939000001"
"""The bot's Time2Chat 09 number; the emulator's channel sends from it and takes its MOs."""
NUMBER_DIGITS = NUMBER.removeprefix("+")
API_KEY = "cle-turns"
CALLBACK_SECRET = "secret-des-rappels-turns"
ENVIRON = {"TURNS_SMSMODE_KEY": API_KEY, "TURNS_CALLBACK_SECRET": CALLBACK_SECRET}
"""The secrets the `bots.yaml` of `write_config` names, given to the causette process."""
REPLY = "Bien reçu, merci. Un conseiller vous répond dans la journée."
"""What both servers answer to every message."""
BASELINE_TOKEN = "t" * 32
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0

FLOW = f"""\
flow: echo
description: Répond à chaque message, pour benchmarks/turns.py
start: listen
states:
  listen:
    on:
      - keywords: [fin]
        goto: done
    otherwise:
      say: "{REPLY}"
  done:
    say: "Au revoir."
    end: true
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def write_config(folder: Path, store: str, emulator_url: str, port: int) -> Path:
    """The `bots.yaml` of the causette server in `folder` (and its flow); its path.

    Everything else is left at its default, as `causette serve` would run it: the worker's
    concurrency, the dispatcher's messages in flight, the compliance rules, the billing."""
    (folder / "echo.yaml").write_text(FLOW, encoding="utf-8")
    config = {
        "store": store,
        "timezone": "Europe/Paris",
        "bots": [{"id": BOT, "flow": "echo.yaml", "t2c": {"number": NUMBER}}],
        "providers": {
            "smsmode": {
                "api_key_env": "TURNS_SMSMODE_KEY",
                "callback_secret_env": "TURNS_CALLBACK_SECRET",
                "base_url": emulator_url,
            }
        },
        "public_url": f"http://{HOST}:{port}",
    }
    path = folder / "bots.yaml"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")  # JSON is YAML
    return path


def mo_path(kind: str) -> str:
    """Where the load generator POSTs the MOs of the server `kind`: the bot's callback URL."""
    if kind == "causette":
        # Imported here: the baseline's and null server's processes load nothing of Causette.
        from bots.wiring import SMSMODE_CALLBACK_PREFIX, callback_token

        return f"{SMSMODE_CALLBACK_PREFIX}/{callback_token(CALLBACK_SECRET, BOT)}"
    return f"/webhooks/smsmode/{BASELINE_TOKEN}"


# --- the parent's side --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Running:
    pid: int
    base_url: str
    log: Path


@contextlib.asynccontextmanager
async def server_process(
    kind: str, folder: Path, *, store: str, emulator_url: str
) -> AsyncIterator[Running]:
    """Start the server `kind` in a child process on a free port, its files in `folder`;
    yield once it answers `/healthz`; stop it (SIGTERM, then SIGKILL) on exit."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [sys.executable, "-m", "benchmarks.turns_servers", kind, "--port", str(port)]
    command += ["--folder", str(folder), "--store", store, "--emulator", emulator_url]
    log = folder / f"{kind}.log"
    with log.open("wb") as output:
        child = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, stdout=output, stderr=output, env={**os.environ, **ENVIRON}
        )
    try:
        base_url = f"http://{HOST}:{port}"
        await _wait_ready(child, base_url, log)
        yield Running(child.pid, base_url, log)
    finally:
        await _stop(child)


@contextlib.asynccontextmanager
async def running_secantus(folder: Path) -> AsyncIterator[str]:
    """A MongoDB URL on SecantusDB (the test extra's wire-compatible server, in memory) in a
    child process of its own; RuntimeError when it is not installed or does not start."""
    beside = Path(sys.executable).parent / "secantusd-py"
    executable = str(beside) if beside.exists() else shutil.which("secantusd-py")
    if executable is None:
        raise RuntimeError("--store mongodb needs SecantusDB: pip install -e '.[test]'")
    port = free_port()
    command = [executable, "--host", HOST, "--port", str(port), "--storage-path", ":memory:"]
    log = folder / "secantus.log"
    with log.open("wb") as output:
        child = await asyncio.create_subprocess_exec(*command, stdout=output, stderr=output)
    try:
        # directConnection: SecantusDB answers as a one-node replica set, keep to its address.
        uri = f"mongodb://{HOST}:{port}/turns?directConnection=true"
        await _wait_mongo(child, uri, log)
        yield uri
    finally:
        await _stop(child)


async def _wait_mongo(child: asyncio.subprocess.Process, uri: str, log: Path) -> None:
    from pymongo import AsyncMongoClient
    from pymongo.errors import PyMongoError

    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline and child.returncode is None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            uri, serverSelectionTimeoutMS=250, connectTimeoutMS=250
        )
        try:
            await client.admin.command("ping")
            return
        except PyMongoError:
            await asyncio.sleep(0.2)
        finally:
            await client.close()
    tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
    raise RuntimeError(f"SecantusDB did not start:\n{tail}")


async def _wait_ready(child: asyncio.subprocess.Process, base_url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if child.returncode is not None:
                break
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(f"{base_url}/healthz", timeout=aiohttp.ClientTimeout(1)):
                    return
            await asyncio.sleep(0.1)
    tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
    raise RuntimeError(f"the server at {base_url} did not start:\n{tail}")


async def _stop(child: asyncio.subprocess.Process) -> None:
    if child.returncode is None:
        child.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(child.wait(), STOP_TIMEOUT)
        except TimeoutError:
            child.kill()
            await child.wait()


# --- the child's side ---------------------------------------------------------------------


def run_causette(args: argparse.Namespace) -> None:
    from bots.config import load_settings
    from bots.serve import serve

    environ = {**os.environ, **ENVIRON}
    config = write_config(args.folder, args.store, args.emulator, args.port)
    # As `causette serve` configures logging (bots/cli_runtime.py), without --verbose.
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    serve(load_settings(config, environ), environ, HOST, args.port)


class BaselineWrites:
    """The baseline's one durable write per message."""

    async def open(self) -> None: ...

    async def write(self, message_id: str, phone: str, body: bytes) -> None:
        raise NotImplementedError

    async def close(self) -> None: ...


class SqliteWrites(BaselineWrites):
    def __init__(self, path: Path) -> None:
        # Autocommit, WAL, synchronous=NORMAL: the connection settings of store/sqlite.py.
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS inbox (seq INTEGER PRIMARY KEY, provider_id TEXT UNIQUE,"
            " phone TEXT NOT NULL, body BLOB NOT NULL, received_at REAL NOT NULL)"
        )

    async def write(self, message_id: str, phone: str, body: bytes) -> None:
        self.db.execute(
            "INSERT INTO inbox (provider_id, phone, body, received_at) VALUES (?, ?, ?, ?)",
            (message_id, phone, body, time.time()),
        )

    async def close(self) -> None:
        self.db.close()


class MongoWrites(BaselineWrites):
    def __init__(self, url: str) -> None:
        from pymongo import AsyncMongoClient

        self.client: Any = AsyncMongoClient(url, serverSelectionTimeoutMS=5000)
        self.inbox: Any = self.client.get_default_database()["baseline_inbox"]

    async def write(self, message_id: str, phone: str, body: bytes) -> None:
        document = {"_id": message_id, "phone": phone, "body": body, "received_at": time.time()}
        await self.inbox.insert_one(document)

    async def close(self) -> None:
        await self.client.close()


def baseline_app(writes: BaselineWrites, emulator_url: str) -> web.Application:
    """The minimal server: store each MO, answer it, send the reply."""
    app = web.Application()
    sending: set[asyncio.Task[None]] = set()
    session: aiohttp.ClientSession | None = None
    headers = {"X-Api-Key": API_KEY, "Content-Type": "application/json"}

    async def send(phone: str) -> None:
        assert session is not None
        body = {"recipient": {"to": phone}, "body": {"text": REPLY}, "from": NUMBER_DIGITS}
        url = f"{emulator_url}/sms/v1/messages"
        async with session.post(url, data=json.dumps(body).encode(), headers=headers) as answer:
            await answer.read()

    async def mo(request: web.Request) -> web.Response:
        if request.match_info["token"] != BASELINE_TOKEN:
            raise web.HTTPNotFound()
        raw = await request.read()
        try:
            message = json.loads(raw)
            message_id, phone = str(message["messageId"]), str(message["from"])
        except (ValueError, KeyError, TypeError):
            raise web.HTTPBadRequest() from None
        await writes.write(message_id, phone, raw)
        task = asyncio.create_task(send(phone))
        sending.add(task)
        task.add_done_callback(sending.discard)
        return web.json_response({"status": "stored"})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def life(_: web.Application) -> AsyncIterator[None]:
        nonlocal session
        await writes.open()
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        yield
        await asyncio.gather(*sending, return_exceptions=True)
        await session.close()
        await writes.close()

    app.router.add_post("/webhooks/smsmode/{token}", mo)
    app.router.add_get("/healthz", healthz)
    app.cleanup_ctx.append(life)
    return app


def null_app() -> web.Application:
    async def answer(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A server of benchmarks/turns.py (internal).")
    parser.add_argument("kind", choices=("causette", "baseline", "null"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--store", required=True, help="sqlite://PATH or a mongodb:// URL")
    parser.add_argument("--emulator", required=True, help="the smsmode emulator's base URL")
    args = parser.parse_args(argv)
    if args.kind == "causette":
        run_causette(args)
        return
    if args.kind == "baseline":
        writes: BaselineWrites
        if args.store.startswith("mongodb://"):
            writes = MongoWrites(args.store)
        else:
            writes = SqliteWrites(Path(args.store.removeprefix("sqlite://")))
        app = baseline_app(writes, args.emulator)
    else:
        app = null_app()
    web.run_app(app, host=HOST, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
