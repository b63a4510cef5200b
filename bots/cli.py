"""The `causette` command line."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from bots.chat import ChatOptions, run_chat
from bots.cli_agents import agents
from bots.cli_billing import billing
from bots.cli_brands import brands
from bots.cli_campaigns import campaign, campaigns
from bots.cli_compliance import redlist, retention
from bots.cli_contacts import contacts
from bots.cli_messages import messages
from bots.cli_numbers import numbers
from bots.cli_runtime import demo, flows, serve
from bots.cli_tokens import tokens
from bots.cli_webhooks import webhooks
from bots.config import ConfigError, Settings, load_settings
from bots.cost import billing_policy, estimate_files
from bots.cost_report import cost_console, print_costs
from bots.url_checks import flow_url_problems
from compliance.urls import UrlPolicy
from flows.graph import to_dot, to_mermaid
from flows.problems import FlowError, Problem, Severity
from flows.testing import CaseResult, FileResult, find_test_files, run_test_file
from flows.validation import check_file, load_flow
from messaging.channel import Channel

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
FLOW_SUFFIXES = (".yaml", ".yml")


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, item = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", param_hint=option)
        pairs[key] = item
    return pairs


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="causette")
def main() -> None:
    """Causette: conversational bots on RCS and Time2Chat."""


main.add_command(serve)
main.add_command(demo)
main.add_command(flows)
main.add_command(messages)
main.add_command(billing)
main.add_command(agents)
main.add_command(brands)
main.add_command(redlist)
main.add_command(contacts)
main.add_command(campaigns)
main.add_command(campaign)  # the singular, as the issue writes it
main.add_command(retention)
main.add_command(tokens)
main.add_command(numbers)
main.add_command(webhooks)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--json", "as_json", is_flag=True, help="Print problems as JSON.")
@click.option(
    "--cost",
    is_flag=True,
    help="Also estimate what each flow's typical paths cost on RCS and SMS (Time2Chat).",
)
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=(
        "Check a whole deployment: the bots.yaml (senders, numbers, settings) and its bots'"
        " flows, with its URL policy; with --cost, its `billing:` prices."
    ),
)
def validate(
    paths: tuple[Path, ...], strict: bool, as_json: bool, cost: bool, config: Path | None
) -> None:
    """Check flow files (or folders of them), or a whole deployment (`--config bots.yaml`), and
    report every problem as path:line:column; links in messages are checked too (R28)."""
    if not paths and config is None:
        raise click.UsageError("give flow files or folders, or --config bots.yaml")
    files = _flow_files(paths)
    problems: list[Problem] = []
    urls = UrlPolicy()
    if config is not None:
        settings, config_problems = deployment(config)
        problems.extend(config_problems)
        if settings is not None:
            urls = settings.compliance.urls.policy()
            files.extend(bot.flow for bot in settings.bots if bot.flow not in files)
    for path in files:
        problems.extend(check_file(path))
        problems.extend(flow_url_problems(path, urls))
    errors = sum(p.severity is Severity.ERROR for p in problems)
    warnings = len(problems) - errors
    costs = None
    if cost:
        try:
            policy = billing_policy(config)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--config") from None
        costs = estimate_files(files, policy)
    if as_json:
        listed = [_problem_json(p) for p in problems]
        output: Any = listed
        if costs is not None:  # the problems as before, under a key, next to the estimates
            output = {"problems": listed, "cost": [c.json() for c in costs]}
        click.echo(json.dumps(output, ensure_ascii=False, indent=2))
    else:
        for problem in problems:
            click.echo(str(problem))
        if costs is not None:
            print_costs(costs, cost_console())
        click.echo(f"{len(files)} flow file(s): {errors} error(s), {warnings} warning(s)", err=True)
    failed = errors or (strict and warnings)
    sys.exit(EXIT_FAILED if failed else EXIT_OK)


def _flow_files(paths: tuple[Path, ...]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in FLOW_SUFFIXES))
        else:
            files.append(path)
    return files


def _problem_json(problem: Problem) -> dict[str, Any]:
    return {
        "path": problem.path,
        "line": problem.line,
        "column": problem.column,
        "severity": problem.severity.value,
        "message": problem.message,
    }


@main.command()
@click.argument("flow", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--channel",
    type=click.Choice([c.value for c in Channel]),
    default=Channel.RCS.value,
    show_default=True,
    help="RCS draws cards and chips; sms and t2c show the exact SMS text.",
)
@click.option("--var", "variables", multiple=True, metavar="KEY=VALUE", help="Set a flow variable.")
@click.option("--contact", multiple=True, metavar="KEY=VALUE", help="Set a contact field.")
@click.option("--env", multiple=True, metavar="KEY=VALUE", help="Expose a value as env.KEY.")
def chat(
    flow: Path,
    channel: str,
    variables: tuple[str, ...],
    contact: tuple[str, ...],
    env: tuple[str, ...],
) -> None:
    """Talk to FLOW in the terminal (type /help once started)."""
    compiled = _load_or_exit(flow)
    options = ChatOptions(
        channel=Channel(channel),
        contact=_pairs(contact, "--contact"),
        variables=_pairs(variables, "--var"),
        env=_pairs(env, "--env"),
    )
    sys.exit(run_chat(compiled, options, Console(highlight=False)))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
def test(paths: tuple[Path, ...], as_json: bool) -> None:
    """Run conversation tests (YAML files or folders of them)."""
    results = asyncio.run(_run_tests(find_test_files(list(paths))))
    passed = sum(result.passed for result in results)
    failed = sum(result.failed for result in results)
    if as_json:
        click.echo(json.dumps(_results_json(results, passed, failed), ensure_ascii=False, indent=2))
    else:
        for result in results:
            _print_file_result(result)
        click.echo(f"{passed} passed, {failed} failed")
    sys.exit(EXIT_FAILED if failed or not results else EXIT_OK)


async def _run_tests(files: list[Path]) -> list[FileResult]:
    return [await run_test_file(path) for path in files]


def _print_file_result(result: FileResult) -> None:
    click.echo(click.style(str(result.path), bold=True))
    for problem in result.problems:
        click.echo(click.style(f"  ✗ {problem}", fg="red"))
    for case in result.cases:
        _print_case(case)


def _print_case(case: CaseResult) -> None:
    if case.failure is None:
        click.echo(f"  {click.style('✓', fg='green')} {case.name} [{case.channel}]")
        return
    failure = case.failure
    click.echo(f"  {click.style('✗', fg='red')} {case.name} [{case.channel}]")
    if failure.step == 0:
        click.echo("      the conversation could not start")
    else:
        click.echo(f"      step {failure.step}: expected {failure.expected}")
    if failure.actual:
        click.echo("      the bot said:")
        for text in failure.actual:
            for line in text.splitlines() or [""]:
                click.echo(f"        | {line}")
    else:
        click.echo("      the bot said nothing since the last matched message")
    click.echo(f"      state: {failure.state}")


def _results_json(results: list[FileResult], passed: int, failed: int) -> dict[str, Any]:
    return {
        "passed": passed,
        "failed": failed,
        "files": [
            {
                "path": str(result.path),
                "problems": [_problem_json(p) for p in result.problems],
                "cases": [
                    {
                        "name": case.name,
                        "channel": case.channel.value,
                        "passed": case.passed,
                        "failure": None
                        if case.failure is None
                        else {
                            "step": case.failure.step,
                            "expected": case.failure.expected,
                            "actual": case.failure.actual,
                            "state": case.failure.state,
                        },
                    }
                    for case in result.cases
                ],
            }
            for result in results
        ],
    }


@main.command()
@click.argument("flow", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["mermaid", "svg", "dot"]),
    default="mermaid",
    show_default=True,
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here.")
def graph(flow: Path, output_format: str, output: Path | None) -> None:
    """Draw FLOW's states and transitions (Mermaid text, Graphviz DOT, or SVG via `dot`)."""
    compiled = _load_or_exit(flow)
    if output_format == "mermaid":
        data = to_mermaid(compiled.flow).encode()
    elif output_format == "dot":
        data = to_dot(compiled.flow).encode()
    else:
        data = _svg(to_dot(compiled.flow))
    if output is None:
        sys.stdout.buffer.write(data)
    else:
        output.write_bytes(data)
        click.echo(f"wrote {output}", err=True)


def _svg(dot_source: str) -> bytes:
    dot = shutil.which("dot")
    if dot is None:
        click.echo(
            "SVG needs Graphviz's `dot`, which is not installed: install the `graphviz` package "
            "(Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz), "
            "or use --format mermaid.",
            err=True,
        )
        sys.exit(EXIT_FAILED)
    done = subprocess.run(  # a fixed executable, our own DOT on stdin
        [dot, "-Tsvg"], input=dot_source.encode(), capture_output=True, check=False
    )
    if done.returncode != 0:
        click.echo(f"dot failed: {done.stderr.decode(errors='replace').strip()}", err=True)
        sys.exit(EXIT_FAILED)
    return done.stdout


def _load_or_exit(path: Path) -> Any:
    try:
        return load_flow(path)
    except FlowError as error:
        for problem in error.problems:
            click.echo(str(problem), err=True)
        sys.exit(EXIT_FAILED)


def deployment(path: Path) -> tuple[Settings | None, list[Problem]]:
    """A `bots.yaml` read as `causette serve` reads it (its environment included), and every
    problem it has."""
    try:
        return load_settings(path, os.environ), []
    except ConfigError as error:
        return None, list(error.problems)
