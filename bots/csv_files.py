"""What the CSV files of people (`causette contacts import`, a campaign's recipients) share:
how their number column is found and their columns named, and their delimiter guessed."""

from __future__ import annotations

import re
import unicodedata

PHONE_COLUMNS = ("phone", "telephone", "numero", "mobile")
"""The names a CSV's number column may have, once slugged; the first one found is used."""


class CsvFileError(Exception):
    """The file as a whole cannot be read (not UTF-8, no header, no number column)."""


def slug(name: str) -> str:
    """A column's field name: lowercase, accents folded, other characters runs of `_`
    (`Prénom` is `prenom`, `Date de naissance` is `date_de_naissance`)."""
    folded = unicodedata.normalize("NFKD", name.strip().lower())
    plain = "".join(char for char in folded if not unicodedata.combining(char))
    return re.sub(r"[^a-z0-9]+", "_", plain).strip("_")


def sniff_delimiter(header: str) -> str:
    """`;` when the header line has more of them than commas (a French spreadsheet's export),
    else `,`."""
    return ";" if header.count(";") > header.count(",") else ","
