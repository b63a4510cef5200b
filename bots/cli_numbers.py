"""`causette numbers ...`: the Time2Chat 09 numbers, declared to the operator (R11), each
assigned to the bot it serves; `causette serve` refuses a bot whose number is not declared
(`undeclared_numbers`). docs/channels.md, "Time2Chat numbers"."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from agents.numbers import NumberDeclaration
from bots.cli_runtime import EXIT_FAILED, config_option, settings_or_exit, with_store
from bots.config import Settings
from messaging.clock import SystemClock
from messaging.phone import InvalidPhoneError, Phone
from store.base import Store
from store.numbers_records import NumberRecord
from store.url import store_from_url

FIELDS = ("client_name", "siret", "usage")
CONTACT_FIELDS = ("last_name", "first_name", "phone", "email")


@click.group()
def numbers() -> None:
    """Time2Chat 09 numbers: declared to the operator (R11), assigned to a bot."""


@numbers.command("declare")
@config_option
@click.argument("number", required=False)
@click.option(
    "--from",
    "from_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A YAML declaration: number, client_name, siret, usage, contact (last_name, ...).",
)
@click.option("--client-name", help="The client the number is for.")
@click.option("--siret", help="The client's SIRET (14 digits, Luhn check digit).")
@click.option("--usage", help="What the number is used for (a sentence).")
@click.option("--contact-last-name", help="The client's contact person: last name.")
@click.option("--contact-first-name", help="The contact person's first name.")
@click.option("--contact-phone", help="The contact person's phone.")
@click.option("--contact-email", help="The contact person's e-mail.")
def numbers_declare(
    config_path: Path, number: str | None, from_file: Path | None, **options: str | None
) -> None:
    """Declare the 09 NUMBER with its operator declaration (R11), from options or --from.

    Every problem is printed with its field and nothing is kept (exit 1). Declaring a number
    again with the same declaration changes nothing; with another one, release it first.
    """
    given = [name for name, value in options.items() if value is not None]
    if from_file is not None and (number is not None or given):
        raise click.UsageError("give NUMBER and the declaration options, or --from, not both")
    raw = _from_yaml(from_file) if from_file is not None else _from_options(number, options)
    try:
        declaration = NumberDeclaration.model_validate(raw)
    except ValidationError as error:
        click.echo("\n".join(declaration_problems(error)), err=True)
        sys.exit(EXIT_FAILED)
    settings = settings_or_exit(config_path)
    e164 = declaration.number.e164
    data = declaration.model_dump(mode="json")
    record = NumberRecord(e164, data, SystemClock().now())

    async def declare(store: Store) -> tuple[bool, NumberRecord | None]:
        existing = await store.get_number(e164)
        if existing is not None and existing.live:
            return False, existing
        return await store.declare_number(record), None

    declared, existing = with_store(settings, declare)
    if declared:
        click.echo(f"number {e164} declared for {declaration.client_name}")
        return
    if existing is not None and dict(existing.declaration) == data:
        click.echo(f"number {e164} already declared")
        return
    click.echo(
        f"number {e164} is already declared with another declaration: release it first"
        f" (causette numbers release {e164}) (R11)",
        err=True,
    )
    sys.exit(EXIT_FAILED)


@numbers.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON.")
def numbers_list(config_path: Path, as_json: bool) -> None:
    """Every declared number, released ones included (the contact's phone masked)."""
    settings = settings_or_exit(config_path)

    async def read(store: Store) -> list[NumberRecord]:
        return await store.list_numbers()

    records = with_store(settings, read)
    if as_json:
        click.echo(json.dumps([_row(r) for r in records], ensure_ascii=False, indent=2))
        return
    table = Table("number", "client", "siret", "bot", "declared", "released")
    for r in records:
        d = r.declaration
        released = _minutes(r.released_at) if r.released_at else ""
        table.add_row(
            r.number,
            str(d.get("client_name", "")),
            str(d.get("siret", "")),
            r.bot_id or "",
            _minutes(r.declared_at),
            released,
        )
    Console(highlight=False).print(table)


@numbers.command("assign")
@config_option
@click.argument("number")
@click.option("--bot", "bot_id", required=True, help="The bot of the configuration it serves.")
def numbers_assign(config_path: Path, number: str, bot_id: str) -> None:
    """Give the declared NUMBER to a bot of the configuration (exit 1 otherwise)."""
    settings = settings_or_exit(config_path)
    bots = {bot.id: bot for bot in settings.bots}
    if bot_id not in bots:
        click.echo(f"no bot {bot_id} in {config_path}", err=True)
        sys.exit(EXIT_FAILED)
    e164 = _e164_or_exit(number)
    now = SystemClock().now()

    async def assign(store: Store) -> bool:
        return await store.assign_number(e164, bot_id, now)

    if not with_store(settings, assign):
        click.echo(f"number {e164} is not declared: declare it first (R11)", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"number {e164} assigned to {bot_id}")
    t2c = bots[bot_id].t2c
    if t2c is not None and t2c.number != e164:
        click.echo(f"warning: bot {bot_id} has t2c.number {t2c.number} in {config_path}", err=True)


@numbers.command("release")
@config_option
@click.argument("number")
def numbers_release(config_path: Path, number: str) -> None:
    """Release NUMBER: it serves no bot any more (exit 1 when unknown or already released)."""
    settings = settings_or_exit(config_path)
    e164 = _e164_or_exit(number)
    now = SystemClock().now()

    async def release(store: Store) -> bool:
        return await store.release_number(e164, now)

    if not with_store(settings, release):
        click.echo(f"no declared number {e164}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"number {e164} released")


async def undeclared_numbers(settings: Settings) -> list[str]:
    """Why bots may not go live on Time2Chat: each bot whose `t2c.number` is not declared
    (or released), or is assigned to another bot (R11). Empty when every number is fine."""
    numbered = [(bot.id, bot.t2c.number) for bot in settings.bots if bot.t2c is not None]
    if not numbered:
        return []
    problems = []
    async with store_from_url(settings.store) as store:
        for bot_id, number in numbered:
            record = await store.get_number(number)
            if record is None or not record.live:
                problems.append(
                    f"bot {bot_id}: Time2Chat number {number} is not declared"
                    f" (R11): causette numbers declare {number} ..."
                )
            elif record.bot_id is not None and record.bot_id != bot_id:
                problems.append(
                    f"bot {bot_id}: Time2Chat number {number} is assigned to bot"
                    f" {record.bot_id} (R11)"
                )
    return problems


def declaration_problems(error: ValidationError) -> list[str]:
    """One line per problem, naming the field and the rule (R11)."""
    lines = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "missing":
            message = "required"
        elif problem["type"] == "extra_forbidden":
            message = "unknown field"
        name = field.rpartition(".")[2]
        line = message if message.startswith(name + " ") else f"{field}: {message}"
        lines.append(line if "R11" in line else f"{line} (R11)")
    return lines


def _from_options(number: str | None, options: dict[str, str | None]) -> dict[str, Any]:
    raw: dict[str, Any] = {"number": number} if number is not None else {}
    raw.update({name: options[name] for name in FIELDS if options[name] is not None})
    contact = {
        name: options[f"contact_{name}"]
        for name in CONTACT_FIELDS
        if options[f"contact_{name}"] is not None
    }
    return {**raw, "contact": contact}


def _from_yaml(path: Path) -> Any:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        click.echo(f"{path}: cannot read the declaration: {error}", err=True)
        sys.exit(EXIT_FAILED)
    if not isinstance(raw, dict):
        click.echo(f"{path}: a declaration is a mapping of its fields (R11)", err=True)
        sys.exit(EXIT_FAILED)
    return raw


def _e164_or_exit(number: str) -> str:
    try:
        return Phone(number).e164
    except InvalidPhoneError as error:
        click.echo(f"{number}: {error}", err=True)
        sys.exit(EXIT_FAILED)


def _row(record: NumberRecord) -> dict[str, Any]:
    r = record
    declaration = dict(r.declaration)
    contact = dict(declaration.get("contact", {}))
    if "phone" in contact:
        contact["phone"] = _masked(str(contact["phone"]))
    return {
        "number": r.number,
        **declaration,
        "contact": contact,
        "bot": r.bot_id,
        "declared": r.declared_at.isoformat(),
        "assigned": None if r.assigned_at is None else r.assigned_at.isoformat(),
        "released": None if r.released_at is None else r.released_at.isoformat(),
    }


def _masked(phone: str) -> str:
    try:
        return Phone(phone).masked
    except InvalidPhoneError:
        return "•" * len(phone)


def _minutes(moment: datetime) -> str:
    return moment.isoformat(timespec="minutes")
