"""A campaign's CSV read as a stream of rows (bots/campaigns_import.py writes them): the same
columns as `causette contacts import` (bots/cli_contacts.py), each bad row reported with its
line number, never the whole file in memory."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable, Iterator

from bots.campaigns_import import BadRow, Row
from bots.csv_files import PHONE_COLUMNS, CsvFileError, slug, sniff_delimiter
from messaging.phone import InvalidPhoneError, Phone
from store.campaigns_records import CampaignRecipient


def csv_rows(lines: Iterable[str], name: str, delimiter: str = "") -> Iterator[Row]:
    """The rows of a CSV text, read line by line (`lines`: an open file, a stream). The header
    names the phone column (`phone`, `telephone`, `numero` or `mobile`, slugged); the other
    columns are the row's variables (empty cells left out). `seq` is the row's first line.

    `CsvFileError` for a file that cannot be read at all (no header, no phone column)."""
    it = iter(lines)
    first = next(it, "")
    if not first.strip():
        raise CsvFileError(f"{name}: no header line")
    lines_again = itertools.chain((first,), it)
    reader = csv.reader(lines_again, delimiter=delimiter or sniff_delimiter(first))
    header = [slug(cell) for cell in next(reader)]
    number = next((header.index(col) for col in PHONE_COLUMNS if col in header), None)
    if number is None:
        raise CsvFileError(f"{name}:1: no phone column (one of: {', '.join(PHONE_COLUMNS)})")
    last = reader.line_num
    for cells in reader:
        line, last = last + 1, reader.line_num
        if not cells:
            continue
        if len(cells) != len(header):
            yield BadRow(
                line, f"{name}:{line}: {len(cells)} cells where the header has {len(header)}"
            )
            continue
        try:
            phone = Phone(cells[number]).e164
        except InvalidPhoneError as error:
            reason = "empty" if not cells[number].strip() else str(error)
            yield BadRow(line, f"{name}:{line}: phone: {reason}")
            continue
        values = {
            column: cell.strip()
            for index, (column, cell) in enumerate(zip(header, cells, strict=True))
            if column and index != number and cell.strip()
        }
        yield CampaignRecipient(phone, values, line)
