"""What the store keeps of the Time2Chat 09 numbers: each one's operator declaration (R11)
and the bot it is assigned to (`causette numbers`, bots/cli_numbers.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class NumberRecord:
    """A declared 09 number. `declaration` is the `agents.numbers.NumberDeclaration` as JSON
    (the store does not check it: the CLI does). A released number keeps its record, without a
    bot, until it is declared again."""

    number: str
    """E.164, the key."""
    declaration: Mapping[str, Any]
    declared_at: datetime
    bot_id: str | None = None
    assigned_at: datetime | None = None
    released_at: datetime | None = None

    @property
    def live(self) -> bool:
        """Declared and not released."""
        return self.released_at is None
