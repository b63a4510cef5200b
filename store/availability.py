"""Whether an error says the store is unavailable for now rather than that something is wrong.

Callers that answer a provider 503 (webhooks) or try again later (the worker, the dispatcher)
log such an error as one line; anything else is a bug or a broken store and keeps its
traceback. Each backend's transient errors are listed here, so callers stay backend-neutral.
"""

from __future__ import annotations

import logging
import sqlite3

from pymongo.errors import ConnectionFailure

from store.sqlite_lock import is_busy


def is_unavailable(error: BaseException) -> bool:
    """SQLite's file locked by another process, or MongoDB unreachable or too slow."""
    if isinstance(error, sqlite3.OperationalError):
        return is_busy(error)
    # AutoReconnect, NetworkTimeout and ServerSelectionTimeoutError are all ConnectionFailure.
    return isinstance(error, ConnectionFailure)


def log_failure(logger: logging.Logger, error: BaseException, message: str, *args: object) -> None:
    """Log a loop's failed round: one WARNING line when the store is unavailable (the loop
    tries again, the outage says nothing new each time), else ERROR with the traceback."""
    if is_unavailable(error):
        logger.warning(message + " (store unavailable: %s)", *args, error)
    else:
        logger.error(message, *args, exc_info=error)
