"""The generated stores of the scale part of `benchmarks/store.py`: any number of
conversations, written with `executemany` straight through `sqlite3` in the schema
`SqliteStore` creates.

Each conversation has the rows a real store keeps after a start and a reply (2 inbox
entries, 4 history lines, 2 sent outbox entries); every second conversation is ended, the
others wait with their armed timer. The payloads are copied from two conversations the
runtime really ran (`make_templates`); a progress bar shows the generation.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from benchmarks.store_runtime import (
    BOT,
    NOW,
    OWNER,
    create_schema,
    open_bench,
    phone_of,
    runtime_phases,
)
from store.sqlite_schema import CONVERSATION_COLUMNS, to_us

GENERATE_BATCH = 10_000
"""Conversations per transaction when generating a store."""


@dataclass(frozen=True, slots=True)
class ConversationTemplate:
    """The rows of one conversation the runtime really ran, to be copied N times."""

    conversation: tuple[Any, ...]
    phone: str
    contact: str
    inbox: list[tuple[str, str]]
    """(source, event JSON) of its 2 inbox entries: the start and the reply."""
    history: list[tuple[str, str, str]]
    """(key format, direction, body); `{0}` / `{1}` stand for the start / reply seq."""
    outbox: list[tuple[str, str, str]]
    """(key format, content, channel)."""
    timers: list[tuple[str, int]]
    """(key, due minus the turn's time, µs)."""


_COLUMN = {name: index for index, name in enumerate(CONVERSATION_COLUMNS)}


def key_format(key: str, position: int, seqs: Sequence[int]) -> str:
    """`in:12` → `in:{0}` when 12 is the conversation's first seq: the seq part of a key."""
    parts = key.split(":")
    parts[position] = "{%d}" % seqs.index(int(parts[position]))  # noqa: UP031
    return ":".join(parts)


def read_template(db: sqlite3.Connection, index: int) -> ConversationTemplate:
    """The rows of conversation `index` in the runtime's file `db`."""
    phone = phone_of(index)
    row = db.execute("SELECT * FROM conversations WHERE phone = ?", (phone,)).fetchone()
    conversation = tuple(row[column] for column in CONVERSATION_COLUMNS)
    inbox = db.execute("SELECT * FROM inbox WHERE phone = ? ORDER BY seq", (phone,)).fetchall()
    seqs = [entry["seq"] for entry in inbox]
    if len(seqs) != 2 or row["id"] != f"{BOT}-{seqs[0]}":
        raise RuntimeError(f"template conversation {index}: unexpected rows")
    history = db.execute(
        "SELECT * FROM history WHERE conversation_id = ? ORDER BY rowid", (row["id"],)
    ).fetchall()
    outbox = db.execute(
        "SELECT * FROM outbox WHERE conversation_id = ? ORDER BY rowid", (row["id"],)
    ).fetchall()
    timers = db.execute("SELECT * FROM timers WHERE conversation_id = ?", (row["id"],)).fetchall()
    return ConversationTemplate(
        conversation=conversation,
        phone=phone,
        contact=row["contact"],
        inbox=[(entry["source"], entry["event"]) for entry in inbox],
        history=[(key_format(h["key"], 1, seqs), h["direction"], h["body"]) for h in history],
        outbox=[(key_format(o["key"], 0, seqs), o["content"], o["channel"]) for o in outbox],
        timers=[(t["key"], t["due_at"] - row["updated_at"]) for t in timers],
    )


async def make_templates(folder: Path) -> tuple[ConversationTemplate, ConversationTemplate]:
    """An ended and a waiting conversation, each after a start and a reply turn."""
    folder.mkdir()
    bench = await open_bench(folder, "template")
    try:
        await runtime_phases(bench, 2, None)
    finally:
        await bench.runtime.close()
    db = sqlite3.connect(bench.path)
    db.row_factory = sqlite3.Row
    try:
        ended, waiting = read_template(db, 0), read_template(db, 1)
    finally:
        db.close()
    if ended.conversation[_COLUMN["status"]] != "ended" or not waiting.timers:
        raise RuntimeError("the template conversations did not end / wait as expected")
    return ended, waiting


_GENERATE = {
    "conversations": (
        f"INSERT INTO conversations ({', '.join(CONVERSATION_COLUMNS)}) "
        f"VALUES ({', '.join('?' for _ in CONVERSATION_COLUMNS)})"
    ),
    "inbox": """INSERT INTO inbox (seq, source, provider_id, bot_id, phone, event, received_at,
        done) VALUES (?, ?, ?, ?, ?, ?, ?, 1)""",
    "history": "INSERT INTO history (key, conversation_id, direction, body, at) "
    "VALUES (?, ?, ?, ?, ?)",
    "outbox": """INSERT INTO outbox (key, conversation_id, bot_id, phone, content, channel,
        status, due_at, created_at, attempts, provider_id, history, lease_owner, lease_until,
        route, provider_ids)
        VALUES (?, ?, ?, ?, ?, ?, 'sent', ?, ?, 1, ?, ?, ?, ?, 'rcs', json_array(?))""",
    "outbox_providers": "INSERT INTO outbox_providers (provider_id, key) VALUES (?, ?)",
    "timers": "INSERT INTO timers (id, conversation_id, bot_id, phone, key, due_at) "
    "VALUES (?, ?, ?, ?, ?, ?)",
}
SPAN = timedelta(hours=20)
"""Generated conversations started within this span before the clock's now (so no armed
24 h timer is due during the run)."""
LEASE_US = 30_000_000
SENT_HISTORY = json.dumps(
    [
        {"at": NOW.isoformat(), "status": "queued", "detail": None, "channel": None},
        {"at": NOW.isoformat(), "status": "sent", "detail": None, "channel": "rcs"},
    ],
    ensure_ascii=False,
    separators=(",", ":"),
)


def generated_rows(
    templates: Sequence[ConversationTemplate], first: int, last: int, size: int
) -> dict[str, list[tuple[Any, ...]]]:
    """Rows of conversations `first` to `last - 1` of a store of `size`: even indexes ended,
    odd ones waiting; conversation i has inbox seqs 2i+1 and 2i+2."""
    rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in _GENERATE}
    conversations, inbox, history = rows["conversations"], rows["inbox"], rows["history"]
    outbox, timers = rows["outbox"], rows["timers"]
    base = to_us(NOW - SPAN)
    step = (to_us(NOW) - base) // max(size, 1)
    id_at, phone_at, contact_at = _COLUMN["id"], _COLUMN["phone"], _COLUMN["contact"]
    seq_at, created_at, updated_at = (
        _COLUMN["last_inbox_seq"],
        _COLUMN["created_at"],
        _COLUMN["updated_at"],
    )
    for index in range(first, last):
        template = templates[index % 2]
        seqs = (2 * index + 1, 2 * index + 2)
        conversation_id = f"{BOT}-{seqs[0]}"
        phone = phone_of(index)
        at = base + index * step
        values = list(template.conversation)
        values[id_at] = conversation_id
        values[phone_at] = phone
        values[contact_at] = template.contact.replace(template.phone, phone)
        values[seq_at] = seqs[1]
        values[created_at] = values[updated_at] = at
        conversations.append(tuple(values))
        for seq, (source, event) in zip(seqs, template.inbox, strict=True):
            inbox.append((seq, source, f"gen-{seq}", BOT, phone, event, at))
        for key, direction, body in template.history:
            history.append((key.format(*seqs), conversation_id, direction, body, at))
        for key_fmt, content, channel in template.outbox:
            key = key_fmt.format(*seqs)
            sent = (f"gen-{key}", SENT_HISTORY, OWNER, at + LEASE_US, f"gen-{key}")
            outbox.append((key, conversation_id, BOT, phone, content, channel, at, at, *sent))
            rows["outbox_providers"].append((f"gen-{key}", key))
        for key, due in template.timers:
            timers.append((f"{conversation_id}/{key}", conversation_id, BOT, phone, key, at + due))
    return rows


@dataclass(frozen=True, slots=True)
class Generated:
    """A generated store: its conversations, rows in all tables, time and size on disk."""

    conversations: int
    rows: int
    seconds: float
    megabytes: float


async def generate_store(
    path: Path,
    size: int,
    templates: Sequence[ConversationTemplate],
    progress: Progress,
) -> Generated:
    """A store of `size` conversations, schema by `SqliteStore`, rows by `executemany`."""
    await create_schema(path)
    began = time.perf_counter()
    task = progress.add_task(f"{size:,} conversations", total=size)
    db = sqlite3.connect(path, isolation_level=None)
    rows = 0
    try:
        db.execute("PRAGMA synchronous = OFF")  # a crash only loses the benchmark's file
        db.execute("PRAGMA cache_size = -524288")  # 512 MiB: index inserts stay in memory
        for first in range(0, size, GENERATE_BATCH):
            last = min(size, first + GENERATE_BATCH)
            batch = generated_rows(templates, first, last, size)
            db.execute("BEGIN")
            for table, table_rows in batch.items():
                db.executemany(_GENERATE[table], table_rows)
                rows += len(table_rows)
            db.execute("COMMIT")
            progress.update(task, completed=last)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    seconds = time.perf_counter() - began
    megabytes = sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6
    return Generated(size, rows, seconds, megabytes)


async def generate_stores(
    folder: Path,
    sizes: Sequence[int],
    templates: Sequence[ConversationTemplate],
    console: Console,
) -> list[Generated]:
    """A store `store-SIZE.db` in `folder` for each size, under one transient progress bar."""
    generated: list[Generated] = []
    columns = (
        TextColumn("generating {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        for size in sizes:
            generated.append(
                await generate_store(folder / f"store-{size}.db", size, templates, progress)
            )
    return generated
