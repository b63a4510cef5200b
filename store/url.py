"""Choosing a store from its URL: `sqlite:///path/to.db`, `sqlite://:memory:`, `mongodb://...`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from store.base import Store


class StoreUrlError(ValueError):
    """A store URL that names no store we have."""


def store_from_url(url: str, *, base: Path | None = None) -> Store:
    """The store a URL names; a relative SQLite path is taken from `base` (the config's folder).

    `sqlite:///var/lib/causette.db` is an absolute path (three slashes: the path starts with
    one), `sqlite://causette.db` a relative one, `sqlite://:memory:` a private in-memory
    database.
    """
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from store.sqlite import SqliteStore

        target = url.removeprefix("sqlite://")
        if target in (":memory:", "/:memory:"):
            return SqliteStore(":memory:")
        path = Path(target)
        if not path.is_absolute() and base is not None:
            path = base / path
        return SqliteStore(path)
    if scheme in ("mongodb", "mongodb+srv"):
        from store.mongodb import MongoStore

        return MongoStore(url)
    raise StoreUrlError(f"unknown store URL {url!r}: use sqlite:///path or mongodb://host/db")
