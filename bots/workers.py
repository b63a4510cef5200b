"""`causette serve --workers N`: N processes serving one port, and the parent that keeps them.

Each worker is a whole `causette serve` (webhooks, turns, timers, outbox, admin API) in a
process of its own, spawned (not forked: the parent may hold a store client's threads), bound
to the same address with `SO_REUSEPORT` so that the kernel spreads the connections among them.
They share nothing but the store: each has its own lease owner id (`process_owner()`: host and
pid), and the store's leases and compare-and-set keep every conversation in order across them
(docs/runtime.md, "Several processes").

The parent serves nothing. It forwards SIGTERM, SIGINT and SIGHUP to the workers and waits.
A worker that dies while the parent is not stopping (killed, out of memory, a crash) is
started again at once: its leases lapse and whichever process claims next finishes its work,
so a restart loses nothing. More than `RESTART_LIMIT` restarts within `RESTART_WINDOW` is a
crash loop (the store unreachable, the port taken by another program): the parent stops the
others and exits 1, for the service manager to report.

Workers run in process groups of their own, so that a terminal's Ctrl-C reaches them once
(through the parent) rather than twice, and each stops itself when the parent disappears.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

from bots.config import Settings, load_settings

log = logging.getLogger(__name__)

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
STOPPING = (signal.SIGTERM, signal.SIGINT)
RESTART_LIMIT = 5
RESTART_WINDOW = 60.0
"""Seconds over which `RESTART_LIMIT` restarts mean a crash loop."""
LOG_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"
SHARED_STORES = ("mongodb://", "mongodb+srv://")


def configure_logging(verbose: bool) -> None:
    """The log lines of `causette serve`, naming the process (several may write to one log)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT)


def refusal(settings: Settings, workers: int, port: int) -> str | None:
    """Why `workers` processes cannot serve this configuration, or None when they can.

    SQLite is refused beyond one process: its writes are correct across processes
    (`BEGIN IMMEDIATE`, leases), but they run on the event loop, so a worker waiting for
    another's write lock stops answering webhooks meanwhile, and a lock held past
    `busy_timeout` fails the write (store/sqlite.py).
    """
    if workers > 1 and not settings.store.startswith(SHARED_STORES):
        return (
            f"--workers {workers}: the store is SQLite ({settings.store}), which serves one"
            " process; use a MongoDB replica set (store: mongodb://...) for several"
        )
    if workers > 1 and port == 0:
        return f"--workers {workers}: --port 0 would give each worker a port of its own"
    return None


@dataclass(frozen=True, slots=True)
class ServeArgs:
    """What a worker needs to serve: it reads the configuration again (checked by the parent)."""

    config_path: Path
    host: str
    port: int
    verbose: bool


def serve_worker(args: ServeArgs) -> None:
    """A worker process's body: `causette serve` on a shared port until told to stop."""
    from bots.serve import serve  # the whole runtime: imported in the worker only

    os.setpgrp()
    # Until its server watches SIGHUP (flow reloads), one must not end it: flows load at start.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    _stop_with_parent()
    configure_logging(args.verbose)
    settings = load_settings(args.config_path, os.environ)
    serve(settings, os.environ, args.host, args.port, reuse_port=True)


def _stop_with_parent() -> None:
    """SIGTERM this process when the parent disappears (killed with -9, say): a thread waits
    on the parent's sentinel, which ends with it."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


Start = Callable[[int], BaseProcess]
"""Starts worker number `index` and returns its process (started)."""


@dataclass
class Supervisor:
    """Keeps `count` workers running until a stopping signal; `run()` returns the exit code."""

    start: Start
    count: int
    clock: Callable[[], float] = time.monotonic
    workers: dict[int, BaseProcess] = field(default_factory=dict)
    stopping: bool = False
    failed: bool = False
    restarts: deque[float] = field(default_factory=deque)

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._forward) for sig in FORWARDED}
        try:
            for index in range(self.count):
                self._launch(index)
            while self.workers:
                ready = wait([worker.sentinel for worker in self.workers.values()])
                for index, worker in list(self.workers.items()):
                    if worker.sentinel in ready:
                        worker.join()
                        del self.workers[index]
                        self._ended(index, worker)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 1 if self.failed else 0

    def _launch(self, index: int) -> None:
        worker = self.start(index)
        self.workers[index] = worker
        log.info("worker %d started (pid %s)", index, worker.pid)
        if self.stopping:  # a stopping signal came while it started
            self._signal_all(signal.SIGTERM)

    def _ended(self, index: int, worker: BaseProcess) -> None:
        code = worker.exitcode
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        if self.stopping:
            # Killed by the stopping signal itself: a worker still starting, before its
            # server set its handlers; it held no work.
            if code not in (0, *(-sig for sig in STOPPING)):
                self.failed = True
                log.error("worker %d (pid %s) stopped with %s", index, worker.pid, how)
            return
        now = self.clock()
        while self.restarts and now - self.restarts[0] > RESTART_WINDOW:
            self.restarts.popleft()
        if len(self.restarts) >= RESTART_LIMIT:
            log.error(
                "worker %d (pid %s) ended (%s): %d restarts within %g s, stopping the others",
                index,
                worker.pid,
                how,
                RESTART_LIMIT,
                RESTART_WINDOW,
            )
            self.failed = True
            self._signal_all(signal.SIGTERM)
            return
        self.restarts.append(now)
        log.warning("worker %d (pid %s) ended (%s); starting it again", index, worker.pid, how)
        self._launch(index)

    def _forward(self, signum: int, _: FrameType | None) -> None:
        if signum in STOPPING and not self.stopping:
            self.stopping = True
            log.info("stopping %d worker(s)", len(self.workers))
        self._signal_all(signum)

    def _signal_all(self, signum: int) -> None:
        self.stopping = self.stopping or signum in STOPPING
        # A copy: this runs in a signal handler, maybe while the loop changes the dict.
        for worker in list(self.workers.values()):
            if worker.pid is not None and worker.exitcode is None:
                # It may have ended meanwhile: its sentinel tells the loop.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signum)


def run_workers(args: ServeArgs, count: int) -> int:
    """Serve with `count` worker processes on one port; the parent's exit code."""
    context = multiprocessing.get_context("spawn")

    def start(index: int) -> BaseProcess:
        process = context.Process(target=serve_worker, args=(args,), name=f"causette-{index}")
        process.start()
        return process

    # The workers' output goes where the parent's goes; flush what the parent wrote first.
    sys.stderr.flush()
    return Supervisor(start, count).run()
