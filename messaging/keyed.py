"""Unions told apart by the key a mapping has: `{reply: ...}`, `{dial: ...}`, `{card: ...}`.

Flow authors write `{dial: "+33...", label: Appeler}`, not `{kind: dial, ...}`. A pydantic
discriminated union then needs its tag derived from the keys present, and a clear error when
there is not exactly one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def present(value: Any, keys: Sequence[str]) -> list[str]:
    """The keys among `keys` that the mapping `value` has, in the order of `keys`."""
    return [key for key in keys if key in value] if isinstance(value, dict) else []


def tag_by_key(keys: Sequence[str], noun: str) -> Callable[[Any], str | None]:
    """A `Discriminator` function: `"dial suggestion"` for `{dial: ...}`.

    A model instance is tagged by its `kind` field.
    """

    def tag(value: Any) -> str | None:
        kind = getattr(value, "kind", None)
        if isinstance(kind, str):
            return f"{kind} {noun}"
        found = present(value, keys)
        return f"{found[0]} {noun}" if len(found) == 1 else None

    return tag


def exactly_one_key(keys: Sequence[str], noun: str) -> Callable[[Any], Any]:
    """A `BeforeValidator` function refusing a mapping with none or several of `keys`."""

    def check(value: Any) -> Any:
        if isinstance(value, dict):
            found = present(value, keys)
            if len(found) != 1:
                what = " and ".join(found) if found else "none"
                raise ValueError(f"a {noun} needs exactly one of {', '.join(keys)} (found {what})")
        return value

    return check
