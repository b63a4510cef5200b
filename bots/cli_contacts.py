"""`causette contacts import|export|lists|erase`: the address book (R6) and people's data
(R31-R34; docs/compliance.md, "Contacts and lists").

An import reads and checks the whole file before it writes anything: every invalid row is
reported with its line number and skipped (with `--strict`, any invalid row stops the import
with nothing written), duplicates are merged once their numbers are in E.164 (R5), then the
valid contacts are written in one store call, which writes them all or none.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bots.cli_compliance import phone_argument
from bots.cli_runtime import EXIT_FAILED, config_option, settings_or_exit, with_store
from bots.csv_files import PHONE_COLUMNS, CsvFileError, slug, sniff_delimiter
from compliance.erasure import hashed_phone
from messaging.clock import SystemClock
from messaging.phone import InvalidPhoneError, Phone
from store.base import Store
from store.contacts_records import Contact

DELIMITERS = {"auto": "", ",": ",", ";": ";"}


@dataclass
class ContactsFile:
    """A CSV file read and checked: its contacts by E.164 number, in first-seen order."""

    fields: dict[str, dict[str, str]] = field(default_factory=dict)
    rows: int = 0
    """Rows read, blank lines aside."""
    merged: int = 0
    """Valid rows whose number came earlier in the file (R5)."""
    invalid: list[str] = field(default_factory=list)
    """One `FILE:LINE: reason` per invalid row."""


def read_contacts(
    text: str, name: str, delimiter: str = "", progress: Callable[[int], None] | None = None
) -> ContactsFile:
    """Read and check a CSV's text (`name` prefixes the problems); `progress` is told each
    row's end offset in `text`."""
    lines = list(io.StringIO(text, newline=""))  # split at line ends only, kept
    if not lines or not lines[0].strip():
        raise CsvFileError(f"{name}: no header line")
    reader = csv.reader(_counted(lines, progress), delimiter=delimiter or sniff_delimiter(lines[0]))
    header = [slug(cell) for cell in next(reader)]
    number = next((header.index(col) for col in PHONE_COLUMNS if col in header), None)
    if number is None:
        expected = ", ".join(PHONE_COLUMNS)
        raise CsvFileError(f"{name}:1: no phone column (one of: {expected})")
    named = [column for column in header if column]
    repeated = sorted({column for column in named if named.count(column) > 1})
    if repeated:
        raise CsvFileError(f"{name}:1: columns named twice: {', '.join(repeated)}")
    result = ContactsFile()
    last = reader.line_num
    for cells in reader:
        line, last = last + 1, reader.line_num
        if not cells:
            continue
        result.rows += 1
        problem = _problem(cells, len(header), number)
        if problem is not None:
            result.invalid.append(f"{name}:{line}: {problem}")
            continue
        e164 = Phone(cells[number]).e164
        values = {
            column: cell.strip()
            for column, cell in zip(header, cells, strict=True)
            if column and column != header[number] and cell.strip()
        }
        if e164 in result.fields:
            result.merged += 1
            result.fields[e164].update(values)  # a later row's non-empty cells win
        else:
            result.fields[e164] = values
    return result


def _counted(lines: Sequence[str], progress: Callable[[int], None] | None) -> Iterator[str]:
    done = 0
    for line in lines:
        done += len(line)
        yield line
        if progress is not None:
            progress(done)


def _problem(cells: list[str], width: int, number: int) -> str | None:
    if len(cells) != width:
        return f"{len(cells)} cells where the header has {width}"
    raw = cells[number]
    if not raw.strip():
        return "phone: empty"
    try:
        Phone(raw)
    except InvalidPhoneError as error:
        return f"phone: {error}"
    return None


@click.group()
def contacts() -> None:
    """The address book (R6) and people's data (R31-R34)."""


@contacts.command("import")
@config_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--list", "list_name", help="Put every contact imported in this list.")
@click.option(
    "--delimiter",
    type=click.Choice(list(DELIMITERS)),
    default="auto",
    show_default=True,
    help="The cell separator (auto: `;` or `,`, from the header line).",
)
@click.option("--strict", is_flag=True, help="Import nothing when any row is invalid.")
def import_contacts(
    config_path: Path, file: Path, list_name: str | None, delimiter: str, strict: bool
) -> None:
    """Import FILE, a UTF-8 CSV with a header and a phone column (`phone`, `telephone`,
    `numero` or `mobile`); the other columns become the contacts' fields, read by templates
    as `contact.<name>` (names lowercase, without accents, `_` for spaces). A number already
    known keeps the fields the file leaves empty."""
    settings = settings_or_exit(config_path)
    try:
        text = file.read_bytes().decode("utf-8-sig")
        read = _read_with_progress(text, file.name, DELIMITERS[delimiter])
    except UnicodeDecodeError:
        click.echo(f"{file.name}: not UTF-8 text (save the file as CSV UTF-8)", err=True)
        sys.exit(EXIT_FAILED)
    except CsvFileError as error:
        click.echo(str(error), err=True)
        sys.exit(EXIT_FAILED)
    for problem in read.invalid:
        click.echo(problem, err=True)
    skipped = len(read.invalid)
    if strict and skipped:
        click.echo(f"nothing imported: {skipped} invalid row(s) (--strict)", err=True)
        sys.exit(EXIT_FAILED)
    if not read.fields:
        click.echo(f"nothing imported: no valid row in {file.name}", err=True)
        sys.exit(EXIT_FAILED)
    now = SystemClock().now()
    people = [Contact(phone, fields, now, now) for phone, fields in read.fields.items()]

    async def write(store: Store) -> tuple[int, int]:
        return await store.upsert_contacts(people, list_name)

    created, updated = with_store(settings, write)
    click.echo(
        f"{len(people)} contacts imported ({created} created, {updated} updated), "
        f"{read.merged} duplicates merged, {skipped} invalid rows skipped"
    )


def _read_with_progress(text: str, name: str, delimiter: str) -> ContactsFile:
    """`read_contacts` under a progress bar on the terminal (none when stderr is not one)."""
    console = Console(stderr=True)
    with Progress(console=console, disable=not console.is_terminal, transient=True) as bar:
        task = bar.add_task(f"reading {name}", total=len(text))

        def advance(done: int) -> None:
            bar.update(task, completed=done)

        return read_contacts(text, name, delimiter, advance)


@contacts.command("export")
@config_option
@click.option("--list", "list_name", help="Only this list's members.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the CSV to this file (default: standard output).",
)
@click.option(
    "--excel",
    is_flag=True,
    help="For a French spreadsheet: `;` between cells and a UTF-8 byte order mark.",
)
def export_contacts(
    config_path: Path, list_name: str | None, output: Path | None, excel: bool
) -> None:
    """The contacts as CSV, UTF-8 with `,` between cells (`--excel`: `;` and a BOM, which
    Excel needs to read accents): `phone` (E.164) first, then every field name, sorted; by
    number. Numbers in full: it is the address book itself. `contacts import` reads both."""
    settings = settings_or_exit(config_path)

    async def read(store: Store) -> list[Contact]:
        return await store.contacts(list_name)

    people = with_store(settings, read)
    names = sorted({name for person in people for name in person.fields})
    buffer = io.StringIO()
    if excel:
        buffer.write("\ufeff")
    writer = csv.writer(buffer, delimiter=";" if excel else ",", lineterminator="\n")
    writer.writerow(["phone", *names])
    for person in people:
        writer.writerow([person.phone, *(person.fields.get(name, "") for name in names)])
    if output is None:
        click.echo(buffer.getvalue(), nl=False)
        return
    output.write_text(buffer.getvalue(), encoding="utf-8")
    click.echo(f"{len(people)} contacts exported to {output}", err=True)


@contacts.command("lists")
@config_option
def contact_lists(config_path: Path) -> None:
    """The lists and how many contacts each holds."""
    settings = settings_or_exit(config_path)

    async def read(store: Store) -> dict[str, int]:
        return await store.lists()

    table = Table("list", "contacts")
    for name, size in with_store(settings, read).items():
        table.add_row(name, str(size))
    Console(highlight=False).print(table)


@contacts.command("set")
@config_option
@click.argument("phone")
@click.argument("pairs", nargs=-1, metavar="FIELD=VALUE...")
@click.option("--list", "list_name", help="Also put the number on this list.")
def set_contact(
    config_path: Path, phone: str, pairs: tuple[str, ...], list_name: str | None
) -> None:
    """Create or edit one contact: each FIELD=VALUE is set (field names as an import names
    its columns: `Prénom` is `prenom`), the contact's other fields stay."""
    number = phone_argument(phone)
    fields: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not slug(name):
            raise click.BadParameter(f"{pair!r}: expected FIELD=VALUE", param_hint="FIELD=VALUE")
        fields[slug(name)] = value
    if not fields and list_name is None:
        raise click.UsageError("give FIELD=VALUE pairs, --list, or both")
    settings = settings_or_exit(config_path)
    now = SystemClock().now()

    async def write(store: Store) -> tuple[int, int]:
        return await store.upsert_contacts([Contact(number.e164, fields, now, now)], list_name)

    created, _ = with_store(settings, write)
    click.echo(f"{number.masked} {'created' if created else 'updated'}")


@contacts.command("unlist")
@config_option
@click.argument("list_name", metavar="LIST")
@click.argument("phones", nargs=-1, metavar="[PHONE]...")
@click.option("--all", "everyone", is_flag=True, help="Every member: the list is deleted.")
def unlist(config_path: Path, list_name: str, phones: tuple[str, ...], everyone: bool) -> None:
    """Take numbers off LIST (or --all of them, which deletes it); their contacts stay, in
    their other lists too. Exit 1 when LIST does not exist."""
    if bool(phones) == everyone:
        raise click.UsageError("give the numbers to take off, or --all")
    numbers = [phone_argument(raw).e164 for raw in phones]
    settings = settings_or_exit(config_path)

    async def leave(store: Store) -> int | None:
        if list_name not in await store.lists():
            return None
        return await store.leave_list(list_name, None if everyone else numbers)

    left = with_store(settings, leave)
    if left is None:
        click.echo(f"no list {list_name!r}", err=True)
        sys.exit(EXIT_FAILED)
    gone = " (the list is deleted)" if everyone else ""
    click.echo(f"{left} number(s) taken off {list_name}{gone}")


@contacts.command("erase")
@config_option
@click.argument("phone")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase(config_path: Path, phone: str, yes: bool) -> None:
    """Remove everything about PHONE (R34): conversations, history, inbox, outbox, timers,
    archive, red list, contact and lists. Its opt-out record and its ledger entries stay, with
    a salted hash of the number instead of the number (the salt:
    `compliance.erasure_salt_env`)."""
    settings = settings_or_exit(config_path)
    number = phone_argument(phone)
    salt = settings.compliance.erasure_salt(os.environ)
    if not salt:
        click.echo(
            "set compliance.erasure_salt_env to a variable holding a secret salt: erased numbers"
            " are kept hashed in the opt-out records and the ledger",
            err=True,
        )
        sys.exit(EXIT_FAILED)
    if not yes:
        click.confirm(f"Erase every record of {number.masked}? This cannot be undone", abort=True)
    hashed = hashed_phone(number.e164, salt)

    async def run(store: Store) -> dict[str, int]:
        return await store.erase_phone(number.e164, hashed)

    counts = with_store(settings, run)
    for table, count in counts.items():
        click.echo(f"{table}: {count}")
    click.echo(f"{number.masked} erased; kept as {hashed[:17]}… where the law requires a trace")
