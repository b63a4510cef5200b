"""Fault runs: a real `causette serve` on SQLite under an MO load while something breaks, then
the count of what every phone got: each MO's reply exactly once, per conversation in order.

Usage: `python benchmarks/chaos.py [--scenario store-down|duplicates|kill|all] [--mos N]
[--phones P] [--down S] [--kill-every S] [--unknown-outcome fail|retry] [--patience S]
[--settle S] [--folder DIR] [--json]`

- `store-down`: from a third of the load on, another process holds the SQLite file's write
  lock (`BEGIN EXCLUSIVE`, as a backup tool or a stuck admin session would) for `--down`
  seconds (30 by default). Each write of the server then waits its busy timeout (5 s, the
  event loop with it: store/sqlite.py) and fails: the webhook that wrote answers 503, the
  requests queued behind it wait or time out, and smsmode retries them all; once the lock is
  gone, nothing is lost.
- `duplicates`: every webhook (MOs and delivery reports) reaches the server three times (a
  front passes each on, then twice more at once): no reply is sent twice.
- `kill`: from a third of the load on, SIGKILL the server every `--kill-every` seconds (5 by
  default) and start it again on the same store and port, until the last MO is written;
  smsmode retries the callbacks that got no answer (connection refused, reset, timed out). An
  SMS the server was handing to smsmode when it died has an unknown outcome: with
  `dispatch.sms_unknown_outcome: fail` (the default) it is marked failed and never sent again
  (`interrupted`: its reply may have reached the phone or not), with `retry` it is sent again
  and may arrive twice. It is taken over once its lease ends (`--lease`, Causette's 30 s).

The phones write as people do, one message after the answer to the last (or after `--patience`
seconds without one); the run ends when every reply came, or none came for `--settle` seconds,
and every callback was taken. The smsmode emulator runs in this process, its callback retries
pressed into seconds (`chaos_load.RETRY_DELAYS`). Every scenario prints: MOs sent and
acknowledged, replies expected and received, lost, duplicated, out of order, the callbacks'
answers by status (`503`, `no answer`), the outbox by status, and its own counts (seconds the
store was down, duplicates injected, kills and restarts). The script exits 1 when a reply was
duplicated, out of order or lost beyond the `interrupted` SMS, or a callback never taken;
0 otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as a script, this folder is first on sys.path, where `store.py` would shadow the
    # `store` package: the repository root takes its place (as benchmarks/turns.py does).
    _FOLDER = Path(__file__).resolve().parent
    _OTHERS = [entry for entry in sys.path if Path(entry or ".").resolve() != _FOLDER]
    sys.path[:] = [str(_FOLDER.parent), *_OTHERS]

import argparse
import asyncio
import contextlib
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.chaos_front import COPIES, Front
from benchmarks.chaos_load import (
    Load,
    Providers,
    Server,
    declare_number,
    new_load,
    outbox_counts,
    phone_numbers,
    run_phones,
    running_providers,
    tally,
    write_config,
)
from benchmarks.turns_servers import free_port

SCENARIOS = ("store-down", "duplicates", "kill", "smsmode-down")


@dataclass(frozen=True)
class Options:
    mos: int
    phones: int
    down: float
    kill_every: float
    unknown_outcome: str
    patience: float
    settle: float
    folder: Path | None
    lease: int | None


async def run_scenario(name: str, options: Options, folder: Path) -> dict[str, Any]:
    """One scenario on a fresh store in `folder`: its counts."""
    folder.mkdir(parents=True)
    port = free_port()
    phones = phone_numbers(options.phones)
    server_url = f"http://127.0.0.1:{port}"
    front = Front(server_url, copies=COPIES)
    started = time.monotonic()
    async with contextlib.AsyncExitStack() as stack:
        # Only `duplicates` has a front: the others' providers meet the server itself (a
        # killed one refuses their connections, a locked one answers 503).
        public = await stack.enter_async_context(front.serving()) if name == "duplicates" else ""
        providers = await stack.enter_async_context(running_providers(phones, public or server_url))
        config = write_config(
            folder, providers.url, public or server_url, options.unknown_outcome, options.lease
        )
        await declare_number(folder / "causette.db")
        server = Server(config, port, folder / "causette.log")
        await server.start()
        specific: dict[str, Any] = {}
        load = new_load(providers.phonebook)
        scene = Scene(server, providers, folder, load, options)
        breaking = asyncio.create_task(BREAKERS[name](scene))
        try:
            await run_phones(
                providers.sms,
                load,
                options.mos,
                # An outage holds replies back: its length, and the router's retry backoff
                # after it (as long again at most), come on top of a phone's patience.
                patience=options.patience + (2 * options.down if name.endswith("-down") else 0),
                settle=options.settle,
            )
        finally:
            breaking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                specific = await breaking
            await server.stop()
        counts = tally(load, providers.sms)
    counts.update(specific)
    counts.update(outbox_counts(folder / "causette.db"))
    # With `sms_unknown_outcome: fail`, an SMS being sent at a kill is marked failed: its
    # reply may have gone (smsmode took it) or not; a lost reply it accounts for is no loss.
    counts["interrupted"] = counts["outbox"].get("failed", 0)
    counts["lost_unaccounted"] = max(0, counts["lost"] - counts["interrupted"])
    counts["seconds"] = round(time.monotonic() - started, 1)
    if name == "duplicates":
        counts["duplicates_injected"] = front.injected
        counts["front_answers"] = dict(sorted(front.statuses.items()))
    if name == "kill":
        counts["kills"], counts["restarts"] = server.kills, server.restarts
    return counts


@dataclass(frozen=True)
class Scene:
    """What a scenario's fault acts on."""

    server: Server
    providers: Providers
    folder: Path
    load: Load
    options: Options


async def store_down(scene: Scene) -> dict[str, Any]:
    """Hold the store's write lock for `down` seconds, from a third of the load on."""
    await scene.load.reached(scene.options.mos // 3)
    lock = sqlite3.connect(scene.folder / "causette.db", timeout=60, check_same_thread=False)
    lock.isolation_level = None
    try:
        # In a thread: taking the lock waits for the server's transaction of the moment.
        await asyncio.to_thread(lock.execute, "BEGIN EXCLUSIVE")
        held, written = time.monotonic(), scene.load.written
        await asyncio.sleep(scene.options.down)  # the outage itself: wall-clock time
        lock.execute("ROLLBACK")
        return {"store_down_s": round(time.monotonic() - held, 1), "mos_before_outage": written}
    finally:
        lock.close()


async def smsmode_down(scene: Scene) -> dict[str, Any]:
    """smsmode's API down for `down` seconds, from a third of the load on."""
    await scene.load.reached(scene.options.mos // 3)
    await scene.providers.down()
    held, written = time.monotonic(), scene.load.written
    try:
        await asyncio.sleep(scene.options.down)  # the outage itself: wall-clock time
    finally:
        await scene.providers.up()
    return {"smsmode_down_s": round(time.monotonic() - held, 1), "mos_before_outage": written}


async def duplicates(scene: Scene) -> dict[str, Any]:
    return {}  # the front delivers every webhook three times


async def kill(scene: Scene) -> dict[str, Any]:
    """SIGKILL and restart the server at a third of the load, then every `kill_every`
    seconds until the phones wrote their last MO (the last replies come from a server left
    running)."""
    await scene.load.reached(scene.options.mos // 3)
    while scene.load.written < scene.options.mos:
        await scene.server.restart()
        await asyncio.sleep(scene.options.kill_every)
    return {}


BREAKERS: dict[str, Callable[[Scene], Coroutine[Any, Any, dict[str, Any]]]] = {
    "store-down": store_down,
    "duplicates": duplicates,
    "kill": kill,
    "smsmode-down": smsmode_down,
}


def failed(counts: dict[str, Any]) -> bool:
    lost = counts["lost_unaccounted"] or counts["callbacks_never_taken"]
    lost = lost or counts["reports_never_taken"]
    return bool(lost or counts["duplicated"] or counts["out_of_order"] or counts["unexpected"])


def report_text(results: dict[str, dict[str, Any]]) -> str:
    lines = []
    for name, counts in results.items():
        lines.append(f"{name}: {'FAILED' if failed(counts) else 'ok'}")
        for key, value in counts.items():
            lines.append(f"  {key:22} {value}")
    return "\n".join(lines)


def parse(argv: Sequence[str] | None) -> tuple[list[str], Options, bool]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--scenario", choices=(*SCENARIOS, "all"), default="all")
    parser.add_argument("--mos", type=int, default=10_000, help="MOs in all (default 10,000)")
    parser.add_argument("--phones", type=int, default=50, help="phones writing at once")
    parser.add_argument("--down", type=float, default=30.0, help="store-down: seconds locked")
    parser.add_argument("--kill-every", type=float, default=5.0, help="kill: seconds between")
    parser.add_argument("--unknown-outcome", choices=("fail", "retry"), default="fail")
    parser.add_argument(
        "--patience", type=float, default=60.0, help="how long a phone waits for a reply, s"
    )
    parser.add_argument("--settle", type=float, default=30.0, help="wait for late replies, s")
    parser.add_argument(
        "--lease",
        type=int,
        help="worker.lease in seconds (default Causette's, 30): when a killed process's"
        " conversations and sends are taken over",
    )
    parser.add_argument("--folder", type=Path, help="keep each run's store and log here")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    args = parser.parse_args(argv)
    if args.mos < 1 or args.phones < 1:
        parser.error("--mos and --phones are at least 1")
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    options = Options(
        args.mos,
        args.phones,
        args.down,
        args.kill_every,
        args.unknown_outcome,
        args.patience,
        args.settle,
        args.folder,
        args.lease,
    )
    return names, options, args.json


async def run(names: list[str], options: Options) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    with contextlib.ExitStack() as stack:
        folder = options.folder or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="causette-chaos-"))
        )
        for name in names:
            results[name] = await run_scenario(name, options, folder / name)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    names, options, as_json = parse(argv)
    results = asyncio.run(run(names, options))
    print(json.dumps(results, indent=2) if as_json else report_text(results))
    return 1 if any(failed(counts) for counts in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
