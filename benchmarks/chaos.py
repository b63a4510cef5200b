"""Fault runs: a real `causette serve` on SQLite under an MO load while something breaks, then
the count of what every phone got: each MO's reply exactly once, per conversation in order.

Usage: `python benchmarks/chaos.py [--scenario NAME|all] [--mos N] [--phones P] [--down S]
[--kill-every S] [--unknown-outcome CHOICE] [--patience S] [--settle S] [--lease S]
[--folder DIR] [--json]`, and the `rbm-faults` knobs (`--rcs-share`, `--rbm-5xx`,
`--rbm-timeouts`, `--rbm-drop-receipts`, `--release-every`, `--fallback-after`; `--help`).

- `store-down`: from a third of the load on, another process holds the SQLite file's write
  lock (`BEGIN EXCLUSIVE`, as a backup tool or a stuck admin session would) for `--down`
  seconds (30 by default). A write of the server then fails once the store's busy timeout
  (store/sqlite.py) runs out: the webhook that wrote answers 503, the requests queued behind
  it wait or time out, and smsmode retries them all; once the lock is gone, nothing is lost.
- `duplicates`: every webhook (MOs and delivery reports) reaches the server three times (a
  front passes each on, then twice more at once): no reply is sent twice.
- `kill`: from a third of the load on, SIGKILL the server every `--kill-every` seconds (5 by
  default) and start it again on the same store and port, until the last MO is written;
  smsmode retries the callbacks that got no answer (connection refused, reset, timed out). An
  SMS the server was handing to smsmode when it died has an unknown outcome, taken over once
  its lease ends (`--lease`, Causette's 30 s): with `dispatch.sms_unknown_outcome: confirm`
  (the default) it waits for smsmode's delivery report, which proves the send, and is sent
  again only if none came within `sms_confirm_wait` (`chaos_load.CONFIRM_WAIT` here); with
  `fail` it is marked failed and never sent again (`interrupted`: its reply may have reached
  the phone or not); with `retry` it is sent again at once and may arrive twice.
- `smsmode-down`: from a third of the load on, smsmode's API is unreachable for `--down`
  seconds; its callbacks keep coming.
- `rbm-faults`: the bot has an RBM agent too, and the phones are RCS phones (`--rcs-share`
  of them, all by default; the others SMS-only) writing through the RBM emulator (its user
  message webhooks), answered by RCS, or by SMS when the router falls back. From a third of
  the load on, about 30 % of RBM's work fails (`chaos_rcs`): 15 % of its API calls answered
  500 or 503 (`--rbm-5xx`), 10 % held until the next release (`--rbm-timeouts`; released
  every `--release-every` seconds, 30 by default, so about two thirds of them outlast the
  server's 10 s timeout and are carried out after it gave up: its retry must reuse the
  messageId, and RBM drop the copy), and 5 % of the DELIVERED receipts dropped
  (`--rbm-drop-receipts`: the delivery deadline, `--fallback-after`, then revokes; a 404
  says delivered, a 200 sends the SMS). A reply that arrives by RCS and by SMS counts as
  duplicated. Before counting, the run waits until the outbox is settled and RBM holds no
  call nor webhook back, so that a late copy is seen.

The phones write as people do, one message after the answer to the last (or after `--patience`
seconds without one); the run ends when every reply came, or none came for `--settle` seconds,
and every callback was taken. The smsmode emulator runs in this process, its callback retries
pressed into seconds (`chaos_load.RETRY_DELAYS`). Every scenario prints: MOs sent and
acknowledged, replies expected and received, lost, duplicated, out of order, the callbacks'
answers by status (`503`, `no answer`), the outbox by status, and its own counts (seconds the
store was down, duplicates injected, kills and restarts; RBM's answers by call and status,
calls held, receipts dropped, SMS fallbacks by reason, revokes). The script exits 1 when a
reply was duplicated, out of order or lost beyond the `interrupted` SMS, or a callback or RBM
webhook never taken; 0 otherwise.
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
from functools import partial
from typing import Any

from benchmarks import chaos_rcs
from benchmarks.chaos_front import COPIES, Front
from benchmarks.chaos_load import (
    Load,
    Providers,
    Server,
    declare_number,
    new_load,
    phone_numbers,
    run_phones,
    running_providers,
    sms_phonebook,
    tally,
    write_config,
)
from benchmarks.chaos_outbox import outbox_counts, rcs_outcomes, wait_settled
from benchmarks.chaos_rcs import Rbm, RbmOptions, running_rbm
from benchmarks.turns_servers import free_port
from bots.wiring import RBM_WEBHOOK_PATH

SCENARIOS = ("store-down", "duplicates", "kill", "smsmode-down", "rbm-faults")
UNKNOWN_OUTCOMES = ("confirm", "fail", "retry")
"""`dispatch.sms_unknown_outcome`'s values for `--unknown-outcome`; the first is the default."""


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
    rbm: RbmOptions


async def run_scenario(name: str, options: Options, folder: Path) -> dict[str, Any]:
    """One scenario on a fresh store in `folder`: its counts."""
    folder.mkdir(parents=True)
    port = free_port()
    phones = phone_numbers(options.phones)
    server_url = f"http://127.0.0.1:{port}"
    rcs = name == "rbm-faults"
    phonebook = (
        chaos_rcs.mixed_phonebook(phones, options.rbm.rcs_share) if rcs else sms_phonebook(phones)
    )
    database = folder / "causette.db"
    front = Front(server_url, copies=COPIES)
    started = time.monotonic()
    async with contextlib.AsyncExitStack() as stack:
        # Only `duplicates` has a front: the others' providers meet the server itself (a
        # killed one refuses their connections, a locked one answers 503).
        public = await stack.enter_async_context(front.serving()) if name == "duplicates" else ""
        providers = await stack.enter_async_context(
            running_providers(phonebook, public or server_url)
        )
        rbm: Rbm | None = None
        if rcs:
            webhook = f"{server_url}{RBM_WEBHOOK_PATH}"
            rbm = await stack.enter_async_context(running_rbm(phonebook, webhook))
        config = write_config(
            folder,
            providers.url,
            public or server_url,
            options.unknown_outcome,
            options.lease,
            chaos_rcs.rcs_config(rbm, options.rbm.fallback_after) if rbm else ("", ""),
        )
        await declare_number(database)
        server = Server(config, port, folder / "causette.log", rbm.env if rbm else None)
        await server.start()
        specific: dict[str, Any] = {}
        load = new_load(providers.phonebook)
        scene = Scene(server, providers, folder, load, options, rbm)
        breaking = asyncio.create_task(BREAKERS[name](scene))
        # A held RCS send carried out late, or an SMS fallback, may still reach a phone.
        settled = partial(wait_settled, database, rbm.pending, options.settle) if rbm else None
        try:
            await run_phones(
                providers.sms,
                load,
                options.mos,
                # An outage holds replies back: its length, and the router's retry backoff
                # after it (as long again at most), come on top of a phone's patience.
                patience=options.patience + (2 * options.down if name.endswith("-down") else 0),
                settle=options.settle,
                settled=settled,
            )
        finally:
            breaking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                specific = await breaking
            await server.stop()
        counts = tally(load, providers.sms)
    counts.update(specific)
    if rbm is not None:
        counts.update(rbm.counts())
        counts["mos_acknowledged"] += counts.pop("rbm_mos_acknowledged")
        counts.update(chaos_rcs.phone_counts(phonebook))
        counts.update(rcs_outcomes(database))
    counts.update(outbox_counts(database))
    # With `sms_unknown_outcome: fail`, an SMS being sent at a kill is marked failed: its
    # reply may have gone (smsmode took it) or not; a lost reply it accounts for is no loss.
    # (`confirm` fails none: each is proved by smsmode's report or sent again.)
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
    rbm: Rbm | None = None


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


async def rbm_faults(scene: Scene) -> dict[str, Any]:
    """RBM fails from a third of the load on, until the run ends: its held calls are let go
    every `release_every` seconds (the counts are the emulator's, `Rbm.counts`)."""
    assert scene.rbm is not None
    await scene.load.reached(scene.options.mos // 3)
    scene.rbm.inject(scene.options.rbm, scene.load.written)
    await scene.rbm.release_periodically(scene.options.rbm.release_every)
    return {}


BREAKERS: dict[str, Callable[[Scene], Coroutine[Any, Any, dict[str, Any]]]] = {
    "store-down": store_down,
    "duplicates": duplicates,
    "kill": kill,
    "smsmode-down": smsmode_down,
    "rbm-faults": rbm_faults,
}


def failed(counts: dict[str, Any]) -> bool:
    lost = counts["lost_unaccounted"] or counts["callbacks_never_taken"]
    lost = lost or counts["reports_never_taken"] or counts.get("rbm_webhooks_dropped")
    return bool(lost or counts["duplicated"] or counts["out_of_order"] or counts["unexpected"])


def report_text(results: dict[str, dict[str, Any]]) -> str:
    lines = []
    for name, counts in results.items():
        lines.append(f"{name}: {'FAILED' if failed(counts) else 'ok'}")
        for key, value in counts.items():
            lines.append(f"  {key:26} {value}")
    return "\n".join(lines)


def parse(argv: Sequence[str] | None) -> tuple[list[str], Options, bool]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--scenario", choices=(*SCENARIOS, "all"), default="all")
    parser.add_argument("--mos", type=int, default=10_000, help="MOs in all (default 10,000)")
    parser.add_argument("--phones", type=int, default=50, help="phones writing at once")
    parser.add_argument("--down", type=float, default=30.0, help="store-down: seconds locked")
    parser.add_argument("--kill-every", type=float, default=5.0, help="kill: seconds between")
    parser.add_argument(
        "--unknown-outcome",
        choices=UNKNOWN_OUTCOMES,
        default=UNKNOWN_OUTCOMES[0],
        help="dispatch.sms_unknown_outcome: an SMS whose send was interrupted or timed out",
    )
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
    chaos_rcs.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.mos < 1 or args.phones < 1:
        parser.error("--mos and --phones are at least 1")
    try:
        rbm = chaos_rcs.options_from(args)
    except ValueError as error:
        parser.error(str(error))
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
        rbm,
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
