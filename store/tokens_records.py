"""What the store keeps for the admin REST API: its bearer tokens (bots/admin/)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

ALL_BOTS = "*"
"""The scope of a token that may act on every bot."""


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A bearer token of the admin API. The secret itself is never kept: only the hex SHA-256
    of it, which a request's token is hashed to and looked up by."""

    id: str
    name: str
    token_hash: str
    scopes: tuple[str, ...]
    """The bots it may act on, or `("*",)` for all of them."""
    created_at: datetime
    revoked_at: datetime | None = None

    def allows(self, bot_id: str) -> bool:
        return ALL_BOTS in self.scopes or bot_id in self.scopes
