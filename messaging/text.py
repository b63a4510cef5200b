"""Text folding shared by every place that compares what a person typed."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
_EDGE_PUNCTUATION = " \t\n.,;:!?¡¿'\"«»“”’()[]"
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def fold(text: str) -> str:
    """Case, accents, surrounding punctuation and repeated spaces ignored.

    `Annuler`, `ANNULER`, ` annuler ! ` and `Ànnulér` all fold to `annuler`; `œ` folds to `oe`.
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    stripped = stripped.replace("œ", "oe").replace("æ", "ae")
    return _SPACES.sub(" ", stripped).strip(_EDGE_PUNCTUATION)


def slug(label: str) -> str:
    """The default `data` of a reply chip: `Je confirme` -> `je_confirme`."""
    return _NOT_SLUG.sub("_", fold(label)).strip("_") or "choice"


_WORD_BREAK = re.compile(r"[\W_]+")


def words(text: str) -> tuple[str, ...]:
    """The folded words of a text, in order: `Rendez-vous, SVP` -> ("rendez", "vous", "svp")."""
    return tuple(w for w in _WORD_BREAK.split(fold(text)) if w)
