"""`causette serve` and `causette flows ...`: the commands that run bots from `bots.yaml`."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click

from bots.config import ConfigError, Settings, load_settings
from bots.migrate import apply_migration, plan_migration
from bots.serve import serve as serve_forever
from bots.workers import ServeArgs, configure_logging, refusal, run_workers
from flows.problems import FlowError
from flows.validation import load_flow
from messaging.clock import SystemClock
from store.base import Store
from store.records import FlowVersion
from store.url import store_from_url

EXIT_FAILED = 1
T = TypeVar("T")

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="bots.yaml",
    show_default=True,
    envvar="CAUSETTE_CONFIG",
    help="The bots configuration (env: CAUSETTE_CONFIG).",
)


def settings_or_exit(path: Path) -> Settings:
    """The settings, or every problem on stderr and exit 1."""
    if not path.is_file():
        click.echo(f"{path}: configuration file not found", err=True)
        sys.exit(EXIT_FAILED)
    try:
        settings = load_settings(path, os.environ)
    except ConfigError as error:
        click.echo(str(error), err=True)
        sys.exit(EXIT_FAILED)
    problems = []
    for bot in settings.bots:
        try:
            load_flow(bot.flow)
        except FlowError as error:
            problems.extend(error.errors)
    if problems:
        click.echo("\n".join(str(p) for p in problems), err=True)
        sys.exit(EXIT_FAILED)
    return settings


def with_store(settings: Settings, action: Callable[[Store], Awaitable[T]]) -> T:
    """Run `action` on the configuration's store, opened for it and closed after (commands
    that read or write the store once)."""

    async def run() -> T:
        async with store_from_url(settings.store) as store:
            return await action(store)

    return asyncio.run(run())


@click.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Processes serving the port (MongoDB only beyond 1; docs/runtime.md).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every turn and message.")
def serve(config_path: Path, host: str, port: int, workers: int, verbose: bool) -> None:
    """Run the bots of the configuration: worker, timers, /healthz and /metrics.

    An invalid configuration or flow, or a bot whose Time2Chat number is not declared (R11,
    `causette numbers`), prints every problem and exits 1 without starting.
    SIGHUP, or saving a flow file, loads new flow versions for new conversations.
    With --workers N, N processes share the port (bots/workers.py); one that dies is started
    again, and the command exits 1 if they keep dying.
    """
    settings = settings_or_exit(config_path)
    refused_workers = refusal(settings, workers, port)
    if refused_workers is not None:
        click.echo(refused_workers, err=True)
        sys.exit(EXIT_FAILED)
    from bots.cli_numbers import undeclared_numbers  # it imports this module

    refused = asyncio.run(undeclared_numbers(settings))
    if refused:
        click.echo("\n".join(refused), err=True)
        sys.exit(EXIT_FAILED)
    configure_logging(verbose)
    click.echo(
        f"causette: {len(settings.bots)} bot(s) on http://{host}:{port}"
        + (f", {workers} worker processes" if workers > 1 else ""),
        err=True,
    )
    if workers > 1:
        sys.exit(run_workers(ServeArgs(config_path.resolve(), host, port, verbose), workers))
    serve_forever(settings, os.environ, host, port)


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (containers: 0.0.0.0).",
)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--db",
    "database",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite file (default: a temporary one).",
)
@click.option(
    "--bot",
    "first_bot",
    default="appointment",
    show_default=True,
    help="The example bot that writes first.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every turn and message.")
def demo(host: str, port: int, database: Path | None, first_bot: str, verbose: bool) -> None:
    """Run the example bots offline with the RBM and smsmode emulators and the phone simulator.

    Open the printed address: an RCS phone and an SMS phone receive the first message of the
    chosen bot; type, tap chips or share a location to chat.
    """
    from bots.demo import run_demo

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    run_demo(port, database, first_bot, host)


@click.group()
def flows() -> None:
    """Flow versions of the bots in the configuration."""


@flows.command()
@config_option
@click.option("--bot", "bot_id", required=True, help="The bot whose conversations move.")
@click.option(
    "--map",
    "mappings",
    multiple=True,
    metavar="OLD=NEW",
    help="Send conversations in state OLD to state NEW (for renamed states).",
)
@click.option("--dry-run", is_flag=True, help="List who would move; move no one.")
def migrate(config_path: Path, bot_id: str, mappings: tuple[str, ...], dry_run: bool) -> None:
    """Move live conversations of a bot from older flow versions to its current flow file."""
    settings = settings_or_exit(config_path)
    try:
        bot = settings.bot(bot_id)
    except KeyError as error:
        raise click.BadParameter(str(error.args[0]), param_hint="--bot") from None
    state_map = {}
    for item in mappings:
        old, sep, new = item.partition("=")
        if not sep or not old or not new:
            raise click.BadParameter(f"{item!r} is not OLD=NEW", param_hint="--map")
        state_map[old] = new
    sys.exit(asyncio.run(_migrate(settings, bot.id, bot.flow, state_map, dry_run)))


async def _migrate(
    settings: Settings, bot_id: str, flow_file: Path, state_map: dict[str, str], dry_run: bool
) -> int:
    flow = load_flow(flow_file)
    clock = SystemClock()
    async with store_from_url(settings.store) as store:
        plan = await plan_migration(store, bot_id, flow, state_map)
        for move in plan.moves:
            click.echo(move.line)
        click.echo(
            f"{len(plan.moves)} conversation(s) to move to {flow.content_hash[:12]}"
            + (f", {len(plan.stuck)} with no state to go to (use --map)" if plan.stuck else ""),
            err=True,
        )
        if dry_run or not plan.moves:
            return 0
        if plan.stuck:
            return EXIT_FAILED
        await store.save_flow_version(
            FlowVersion(
                flow.content_hash,
                flow.id,
                flow_file.read_text("utf-8"),
                str(flow_file),
                clock.now(),
            )
        )
        moved = await apply_migration(store, plan, clock)
        click.echo(f"moved {moved} conversation(s)", err=True)
    return 0
