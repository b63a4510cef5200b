"""What `causette serve`'s SQLite outbox says, for `benchmarks/chaos.py`: its entries by status,
whether anything is left to send or hear of (read while the server runs, in WAL mode), and what
became of the replies of RCS conversations (read from their history once it stopped).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from store.records import OutboxStatus

UNSETTLED = tuple(sorted(status.value for status in OutboxStatus if not status.final))
SMS_CHANNELS = ("sms", "t2c")


def outbox_counts(database: Path) -> dict[str, Any]:
    """The server's outbox by status, and the provider calls it had to repeat (a send that
    failed and was retried), read from its SQLite file once it stopped."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = db.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall()
        (retries,) = db.execute(
            "SELECT coalesce(sum(attempts - 1), 0) FROM outbox WHERE attempts > 1"
        ).fetchone()
    statuses = {str(status): int(count) for status, count in rows}
    return {"outbox": statuses, "send_retries": int(retries)}


async def wait_settled(
    database: Path, pending: Callable[[], tuple[object, ...]], settle: float
) -> None:
    """Until the outbox has nothing left to send, revoke or hear of, and the providers hold
    nothing back (`pending()` all false: `chaos_rcs.Rbm.pending`): a late RCS delivery or SMS
    fallback reaches its phone while the phones are watched. Given up once nothing changed for
    `settle` seconds and nothing is due within it."""
    last: tuple[object, ...] = ()
    since = time.monotonic()
    while True:
        waiting, latest = _unsettled(database)
        held = pending()
        if not waiting and not any(held):
            return
        state = (waiting, *held)
        if state != last:
            last, since = state, time.monotonic()
        overdue = latest is None or time.time() > latest + settle
        if time.monotonic() - since > settle and overdue:
            return
        await asyncio.sleep(0.5)  # another process's store: a bounded poll


def _unsettled(database: Path) -> tuple[dict[str, int], float | None]:
    """The outbox entries not final, by status, and the latest time one of them is due."""
    marks = ", ".join("?" * len(UNSETTLED))
    query = f"""SELECT status, count(*),
        max(CASE status WHEN 'sent' THEN deadline_at WHEN 'sending' THEN lease_until
            ELSE due_at END)
        FROM outbox WHERE status IN ({marks}) GROUP BY status"""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        rows = db.execute(query, UNSETTLED).fetchall()
    due = [int(when) / 1e6 for _, _, when in rows if when is not None]
    return {str(status): int(count) for status, count, _ in rows}, max(due, default=None)


def rcs_outcomes(database: Path) -> dict[str, Any]:
    """What became of the replies of RCS conversations, from the stopped server's outbox
    history: by RCS, by SMS, or both; why they fell back; the revokes."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = db.execute("SELECT history FROM outbox WHERE channel = 'rcs'").fetchall()
    routes: Counter[str] = Counter()
    fallbacks: Counter[str] = Counter()
    revokes: Counter[str] = Counter()
    unknown = 0
    for (history,) in rows:
        route, reason, timeouts = _follow(json.loads(history), revokes)
        routes[route] += 1
        unknown += timeouts
        if reason is not None:
            fallbacks[reason] += 1
    return {
        "rcs_conversation_replies": dict(sorted(routes.items())),
        "rcs_sends_unknown_outcome": unknown,
        "sms_fallbacks": dict(sorted(fallbacks.items())),
        "revokes": dict(sorted(revokes.items())),
    }


def _follow(lines: list[dict[str, Any]], revokes: Counter[str]) -> tuple[str, str | None, int]:
    """One entry's history: how it went (by RCS, by SMS, both, or not sent), why it went by
    SMS, and how many of its RCS sends had an unknown outcome; its revokes counted."""
    sent = {line["channel"] for line in lines if line["status"] == OutboxStatus.SENT}
    rcs, sms = "rcs" in sent, bool(sent & set(SMS_CHANNELS))
    route = "by RCS" if rcs else "not sent"
    if sms:
        route = "accepted by RBM and sent by SMS" if rcs else "by SMS"
    elif not rcs and lines[-1]["status"] in (OutboxStatus.DELIVERED, OutboxStatus.READ):
        # Its DELIVERED came while it waited for a retry: a timed-out send carried out late.
        route = "by RCS, its send timed out"
    reason, unknown, timeouts = None, False, 0
    for line in lines:
        detail, status, channel = str(line.get("detail") or ""), line["status"], line["channel"]
        if status == OutboxStatus.REVOKED:
            revokes["answered 200: revoked"] += 1
            unknown = False  # revoked: RBM will not deliver it, whatever it took
        elif detail.startswith("revoke answered 404"):
            revokes["answered 404: already delivered"] += 1
        elif detail.startswith("revoke failed"):
            revokes["failed, tried again"] += 1
        elif status == OutboxStatus.QUEUED and channel == "rcs":
            # Retried on RCS under the same id: RBM may have taken it (a timeout).
            unknown, timeouts = True, timeouts + 1
        elif status == OutboxStatus.SENDING and channel in SMS_CHANNELS:
            reason = detail.removeprefix("by SMS").removeprefix(": ") or "after the revoke"
            if unknown:  # an RCS send of unknown outcome may still be carried out
                reason += " (after an RCS send of unknown outcome, not revoked)"
    return route, reason, timeouts
