"""Store URLs: `sqlite:///abs/path.db`, `sqlite://relative.db`, `sqlite://:memory:`,
`mongodb://...`. One place reads them, for the configuration and for opening a store."""

from __future__ import annotations

from pathlib import Path

from store.base import Store

MEMORY = ":memory:"


class StoreUrlError(ValueError):
    """A store URL that names no store we have."""


def resolve_store_url(url: str, base: Path) -> str:
    """The URL with a relative SQLite path taken from `base` (the config file's folder).

    `sqlite:///var/lib/causette.db` is an absolute path (three slashes: the path starts with
    one); `sqlite://causette.db` and `sqlite:///./causette.db` are relative ones;
    `sqlite://:memory:` is a private in-memory database. `StoreUrlError` for anything else.
    """
    if url.startswith(("mongodb://", "mongodb+srv://")):
        return url
    path = _sqlite_path(url)
    if path == MEMORY or Path(path).is_absolute():
        return url
    return f"sqlite://{base / path}"


def store_from_url(url: str, *, base: Path | None = None) -> Store:
    """The store a URL names (see `resolve_store_url`); relative paths from `base` or the
    working directory."""
    if url.startswith(("mongodb://", "mongodb+srv://")):
        from store.mongodb import MongoStore

        return MongoStore(url)
    from store.sqlite import SqliteStore

    path = _sqlite_path(resolve_store_url(url, base or Path()))
    return SqliteStore(path)


def _sqlite_path(url: str) -> str:
    if not url.startswith("sqlite://"):
        raise StoreUrlError(
            f"unknown store URL `{url}`: use sqlite:///absolute/path.db, "
            "sqlite://path/next/to/config.db or mongodb://host/db"
        )
    target = url.removeprefix("sqlite://")
    if target in (MEMORY, "/" + MEMORY):
        return MEMORY
    if target.startswith("/./"):  # `sqlite:///./x.db` reads as relative, like `sqlite://x.db`
        target = target[3:]
    if target in ("", "/") or target.endswith("/"):
        raise StoreUrlError(f"store URL `{url}` names no database file")
    return target
