"""What the `causette brands …` and `causette agents …` commands share: a management API
client and the store for one command, the exit codes, and the checks made before any call.

Exit codes: 0 done (or nothing left to do), 1 Google refused (or the agent named is unknown),
2 a usage problem found before any call (an option, a phone number, a spec field over its limit).

Credentials: the service account key of `providers.rbm.credentials_env` with the
`businesscommunications` scope; or, when `CAUSETTE_RBM_ACCESS_TOKEN` is set, that ready bearer
token (`gcloud auth print-access-token`, or anything for the sandbox's emulator).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

import aiohttp
import click

from agents.agent_spec import AgentSpec, SpecError, load_agent_spec
from agents.errors import ProviderError
from agents.google_auth import (
    BUSINESS_COMMUNICATIONS_SCOPE,
    ServiceAccountTokens,
    StaticToken,
    TokenSource,
)
from agents.management import ManagementClient
from agents.registry import UnknownAgent
from bots.config import RbmProvider, Settings
from messaging.phone import InvalidPhoneError, Phone
from store.base import Store
from store.url import store_from_url

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2
ACCESS_TOKEN_ENV = "CAUSETTE_RBM_ACCESS_TOKEN"
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})

T = TypeVar("T")
Work = Callable[[ManagementClient, Store], Awaitable[T]]

json_option = click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
spec_option = click.option(
    "--spec",
    "spec_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The agent's YAML spec (examples/agents/cabinet.yaml).",
)


def usage_exit(message: str) -> NoReturn:
    """`message` on stderr, exit 2: nothing was called."""
    click.echo(message, err=True)
    sys.exit(EXIT_USAGE)


def spec_or_exit(path: Path) -> AgentSpec:
    """The spec, or every problem (`path:line:column: field: message`) and exit 2."""
    try:
        return load_agent_spec(path)
    except SpecError as error:
        click.echo("\n".join(error.problems), err=True)
        sys.exit(EXIT_USAGE)


def phones_or_exit(raw: tuple[str, ...]) -> list[Phone]:
    """The numbers in E.164; exit 2 naming the first bad one by position (not echoed: it may
    be a real number mistyped)."""
    phones: list[Phone] = []
    for position, value in enumerate(raw, 1):
        try:
            phones.append(Phone(value))
        except InvalidPhoneError:
            usage_exit(f"PHONE #{position} is not a valid phone number")
    return phones


def webhook_url_or_exit(url: str) -> str:
    """Google takes https webhooks only (rbm.md §5.1); http is let through on loopback, where
    the sandbox's bots listen."""
    parts = urlsplit(url)
    loopback = parts.scheme == "http" and parts.hostname in LOOPBACK
    if not parts.hostname or not (parts.scheme == "https" or loopback):
        usage_exit(f"--url: {url!r} is not an https:// URL (RBM calls https webhooks only)")
    return url


def rbm_or_exit(settings: Settings) -> RbmProvider:
    rbm = settings.providers.rbm
    if rbm is None:
        usage_exit("the configuration has no `providers.rbm` (the RBM credentials)")
    return rbm


def client_token_or_exit(settings: Settings) -> str:
    """The webhook client token: the handshake's and the signatures' secret."""
    variable = rbm_or_exit(settings).client_token_env
    token = os.environ.get(variable)
    if not token:
        usage_exit(f"environment variable `{variable}` (providers.rbm.client_token_env) is not set")
    return token


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


def echo_lines(lines: list[str]) -> None:
    for line in lines:
        click.echo(line)


def run_remote(settings: Settings, work: Work[T]) -> T:
    """Runs `work` with a management client and the store; a refusal from Google (or an
    unknown agent) is printed and exits 1."""
    rbm = rbm_or_exit(settings)
    tokens = _tokens(rbm)

    async def run() -> T:
        async with aiohttp.ClientSession() as session, store_from_url(settings.store) as store:
            client = ManagementClient(session, tokens=tokens, base_url=rbm.management_base_url)
            return await work(client, store)

    try:
        return asyncio.run(run())
    except ProviderError as error:
        click.echo(f"Google refused: {error}", err=True)
    except UnknownAgent as error:
        click.echo(str(error), err=True)
    sys.exit(EXIT_REFUSED)


def _tokens(rbm: RbmProvider) -> TokenSource:
    ready = os.environ.get(ACCESS_TOKEN_ENV)
    if ready:
        return StaticToken(ready)
    key = os.environ.get(rbm.credentials_env)
    if not key:
        usage_exit(
            f"environment variable `{rbm.credentials_env}` (providers.rbm.credentials_env) is"
            f" not set, nor {ACCESS_TOKEN_ENV}"
        )
    try:
        return ServiceAccountTokens(key, scopes=(BUSINESS_COMMUNICATIONS_SCOPE,))
    except ProviderError as error:
        usage_exit(f"{rbm.credentials_env}: {error}")
