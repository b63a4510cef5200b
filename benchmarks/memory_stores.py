"""The generated stores of `benchmarks/memory.py`, cached on disk between runs.

A store of N conversations (`store_generate.py`: the rows the runtime keeps after a start and
a reply, every second conversation waiting) takes minutes to generate at a million, so each
is kept in the cache folder under a key of the store's schema: `SCHEMA_VERSION`, a digest of
the `TABLES` statements and of the template rows the runtime wrote (any change to either
makes a new key, so a stale file is never measured). Layout:

    <cache>/memory/<key>/store-<N>.db

The default cache is `$CAUSETTE_BENCH_CACHE`, else `$XDG_CACHE_HOME/causette/benchmarks`,
else `~/.cache/causette/benchmarks`. Folders of older keys are left alone (another checkout
may use them): `python benchmarks/memory.py --clear-cache` or `rm -rf <cache>/memory`
removes them all; a million conversations take ~3.1 GB.

Turns write to the store they run on, so each measured run works on a copy (`working_copy`)
and the cached file stays as generated.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from benchmarks.store_generate import ConversationTemplate, generate_stores, make_templates
from store.sqlite_tables import SCHEMA_VERSION, TABLES

CACHE_ENV = "CAUSETTE_BENCH_CACHE"
CACHE_PART = "memory"
"""The sub-folder of the cache this benchmark owns."""


def default_cache_dir() -> Path:
    """`$CAUSETTE_BENCH_CACHE`, else the user's cache folder, `/causette/benchmarks`."""
    if found := os.environ.get(CACHE_ENV):
        return Path(found)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "causette" / "benchmarks"


def cache_key(templates: Sequence[ConversationTemplate]) -> str:
    """`v<SCHEMA_VERSION>-<digest>`: the digest covers the schema's statements and the
    template rows, so a change to the runtime's rows also makes a new key."""
    digest = hashlib.sha256()
    for statement in TABLES:
        digest.update(statement.encode())
    digest.update(repr(tuple(templates)).encode())
    return f"v{SCHEMA_VERSION}-{digest.hexdigest()[:12]}"


@dataclass(frozen=True, slots=True)
class CachedStore:
    """A generated store in the cache, and how this run got it."""

    conversations: int
    path: Path
    generated_s: float | None
    """Seconds spent generating it in this run; None when it came from the cache."""

    @property
    def megabytes(self) -> float:
        return self.path.stat().st_size / 1e6


@dataclass(frozen=True, slots=True)
class StoreCache:
    """The cache folder of one schema key, and the template conversations of its stores."""

    root: Path
    key: str
    templates: tuple[ConversationTemplate, ...]

    @property
    def folder(self) -> Path:
        return self.root / CACHE_PART / self.key

    def path(self, size: int) -> Path:
        return self.folder / f"store-{size}.db"

    async def ensure(self, sizes: Sequence[int], console: Console) -> list[CachedStore]:
        """The stores of `sizes`, generating those the cache lacks (with a progress bar)."""
        missing = [size for size in sizes if not self.path(size).exists()]
        seconds: dict[int, float] = {}
        if missing:
            self.folder.mkdir(parents=True, exist_ok=True)
            # Generated in a scratch folder, then moved in whole: an interrupted generation
            # never leaves a partial store under a name a later run would trust.
            with tempfile.TemporaryDirectory(prefix="generating-", dir=self.folder) as name:
                scratch = Path(name)
                generated = await generate_stores(scratch, missing, self.templates, console)
                for found in generated:
                    built = scratch / f"store-{found.conversations}.db"
                    os.replace(built, self.path(found.conversations))
                    seconds[found.conversations] = found.seconds
        return [CachedStore(size, self.path(size), seconds.get(size)) for size in sizes]


async def open_cache(root: Path) -> StoreCache:
    """The cache under `root` for the schema and runtime rows of this checkout."""
    with tempfile.TemporaryDirectory(prefix="causette-memory-templates-") as name:
        templates = await make_templates(Path(name) / "template")
    return StoreCache(root, cache_key(templates), templates)


def clear_cache(root: Path) -> int:
    """Removes every cached store of this benchmark (all keys); returns the bytes freed."""
    folder = root / CACHE_PART
    if not folder.exists():
        return 0
    freed = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    shutil.rmtree(folder)
    return freed


def working_copy(store: CachedStore, folder: Path) -> Path:
    """A copy of the cached store in `folder`, for a run's turns to write to. It is on disk
    when this returns: left to the kernel's writeback, the gigabytes of a large copy would
    be flushed during that store's turns and throttle their writes, slowing the large sizes
    only."""
    target = folder / store.path.name
    shutil.copyfile(store.path, target)
    with target.open("rb") as copied:
        os.fsync(copied.fileno())
    return target
