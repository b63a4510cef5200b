"""The `bots.yaml` configuration: store, time zone, worker tuning and the bots, each with its flow.

```yaml
store: sqlite:///var/lib/causette/causette.db   # or mongodb://host/db?replicaSet=rs0
timezone: Europe/Paris
bots:
  - id: appointment
    flow: flows/appointment.yaml
```

The file is read with the flow tooling (YAML 1.2, duplicate keys reported, a position on every
node), so each problem reads `path:line:column: field: message`, and every problem is reported,
not just the first. Unknown keys are errors. Relative paths (flow files, a SQLite database)
are taken from the config file's folder and kept resolved. Secrets never sit in the file: a
field whose name ends in `_env` names an environment variable, checked when the file loads.

Growing the file (provider credentials, a bot's RCS agent, 09 number or SMS sender) is one
model plus one field: unknown-key hints, secret checks and positions follow the models.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from bots.billing_settings import BillingSettings
from bots.compliance_settings import BotCompliance, ComplianceSettings
from bots.config_env import interpolate
from bots.config_fields import (
    ConfigModel,
    Duration,
    TimeZone,
    base_folder,
    check_bot_id,
    check_env_name,
    check_sender_id,
    check_t2c_number,
)
from bots.dispatch_settings import DispatchSettings, RcsSettings
from bots.webhook_settings import BusinessWebhookSettings
from flows.loader import LineDict, LineList, dotted, key_position, load_yaml, walk
from flows.problems import Problem
from flows.validation import problem_from_error
from store.url import resolve_store_url

DEFAULT_STORE = "sqlite://causette.db"
"""A SQLite file next to the config file (`sqlite://` + a relative path)."""

DEFAULT_TIMEZONE = ZoneInfo("Europe/Paris")

_DUPLICATE_BOT_ID = "duplicate_bot_id"

Loc = tuple[str | int, ...]


class ConfigError(Exception):
    """A configuration that cannot be used; `problems` lists every problem found, in file order."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid configuration")


@dataclass(frozen=True, slots=True)
class Where:
    """A field's place in the config file, for problems found after loading."""

    path: str
    line: int
    column: int
    field: str

    def problem(self, message: str) -> Problem:
        """`path:line:column: field: message`."""
        return Problem(self.path, self.line, self.column, f"{self.field}: {message}")


def require_env(environ: Mapping[str, str], variable: str, where: Where) -> str:
    """The value of a secret's environment variable; `ConfigError` at `where` if unset or empty."""
    value = environ.get(variable)
    if value:
        return value
    state = "is not set" if value is None else "is empty"
    raise ConfigError([where.problem(f"environment variable `{variable}` {state}")])


class WorkerSettings(ConfigModel):
    """How the conversation worker claims and runs turns."""

    concurrency: Annotated[int, Field(strict=True, ge=1)] = 16
    """Conversations in flight at once, per process."""
    lease: Duration = timedelta(seconds=30)
    """How long a claimed conversation stays ours without renewal."""
    poll: Duration = timedelta(seconds=1)
    """The pause between looks at an empty inbox."""


class RbmProvider(ConfigModel):
    """Google's RBM API (reference/rbm.md §0)."""

    credentials_env: str
    """Names the variable holding the service account's JSON key."""
    client_token_env: str
    """Names the variable holding the webhook client token (handshake and signatures)."""
    region: Literal["europe", "us", "asia"] = "europe"
    base_url: str | None = None
    """Overrides the regional host (the sandbox)."""
    management_base_url: str = "https://businesscommunications.googleapis.com"
    """The management API (agents, brands, launches: rbm.md §7); the sandbox overrides it."""

    @property
    def url(self) -> str:
        prefix = {"europe": "europe-", "us": "us-", "asia": "asia-"}[self.region]
        return self.base_url or f"https://{prefix}rcsbusinessmessaging.googleapis.com"


class SmsmodeProvider(ConfigModel):
    """smsmode's REST API v1 (reference/sms.md §1)."""

    api_key_env: str
    callback_secret_env: str
    """Names the variable holding the secret from which each bot's unguessable callback path
    is derived (smsmode callbacks are not signed, sms.md §1.4)."""
    base_url: str = "https://rest.smsmode.com"


class Providers(ConfigModel):
    rbm: RbmProvider | None = None
    smsmode: SmsmodeProvider | None = None


class T2cSettings(ConfigModel):
    number: Annotated[str, AfterValidator(check_t2c_number)]
    """The bot's Time2Chat 09 number, kept in E.164."""


class SmsSettings(ConfigModel):
    sender: Annotated[str, AfterValidator(check_sender_id)]
    """The SenderID (OADC): at most 11 letters and digits, not digits only (R27)."""


class BotSettings(ConfigModel):
    """One bot: its id, its flow file, and the environment variables its flow may read."""

    id: Annotated[str, AfterValidator(check_bot_id)]
    flow: Path
    """The flow file, relative to the config file's folder; kept absolute."""
    env_allow: list[Annotated[str, AfterValidator(check_env_name)]] = Field(default_factory=list)
    """Names a flow may read as `env.NAME`; nothing else of the environment reaches it."""
    rcs: RcsSettings | None = None
    t2c: T2cSettings | None = None
    sms: SmsSettings | None = None
    compliance: BotCompliance = Field(default_factory=BotCompliance)
    webhook: BusinessWebhookSettings | None = None
    """Where the business's own systems are told of this bot's events (signed posts)."""

    def business(self, settings: Settings) -> str:
        """Who this bot's opt-outs and red list belong to."""
        return self.compliance.business or settings.compliance.business

    @field_validator("flow")
    @classmethod
    def _flow_file(cls, flow: Path, info: ValidationInfo) -> Path:
        path = base_folder(info) / flow
        if path.is_dir():
            raise ValueError(f"{path} is a folder, not a flow file")
        if not path.is_file():
            raise ValueError(f"flow file {path} not found")
        return path

    def env(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The allowed variables that are set, for the flow's `env`."""
        return {name: environ[name] for name in self.env_allow if name in environ}


class Settings(ConfigModel):
    """The whole `bots.yaml`."""

    store: str = Field(default=DEFAULT_STORE, validate_default=True)
    """The store URL, a relative SQLite path already resolved against the config's folder."""
    timezone: TimeZone = DEFAULT_TIMEZONE
    bots: list[BotSettings]
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    dispatch: DispatchSettings = Field(default_factory=DispatchSettings)
    billing: BillingSettings = Field(default_factory=BillingSettings)
    compliance: ComplianceSettings = Field(default_factory=ComplianceSettings)
    providers: Providers = Field(default_factory=Providers)
    public_url: str | None = None
    """Where providers reach this server's webhooks (`https://bots.example.fr`): smsmode's
    callback URLs are built from it."""

    _source: tuple[str, Any] | None = PrivateAttr(default=None)

    @field_validator("store")
    @classmethod
    def _store_url(cls, url: str, info: ValidationInfo) -> str:
        return resolve_store_url(url, base_folder(info))

    @field_validator("bots")
    @classmethod
    def _bots(cls, bots: list[BotSettings]) -> list[BotSettings]:
        if not bots:
            raise ValueError("at least one bot is needed")
        for index, bot_id, first in _duplicates(enumerate(bot.id for bot in bots)):
            raise PydanticCustomError(
                _DUPLICATE_BOT_ID,
                "duplicate bot id `{bot_id}` at bots[{index}] (first at bots[{first}])",
                {"index": index, "bot_id": bot_id, "first": first},
            )
        return bots

    def bot(self, bot_id: str) -> BotSettings:
        """The bot with this id; `KeyError` naming the known ids otherwise."""
        for bot in self.bots:
            if bot.id == bot_id:
                return bot
        known = ", ".join(bot.id for bot in self.bots)
        raise KeyError(f"no bot `{bot_id}` in the configuration (known: {known})")

    def where(self, *loc: str | int) -> Where:
        """Where a field (`where("bots", 0, "flow")`) stands in the file it was loaded from.

        A field the file leaves out points at its closest written parent.
        """
        if self._source is None:
            return Where("<settings>", 1, 1, dotted(loc))
        path, raw = self._source
        line, column = walk(raw, loc)[0]
        return Where(path, line, column, dotted(loc))


def load_settings(path: Path, environ: Mapping[str, str] = os.environ) -> Settings:
    """Read and check a `bots.yaml`; `ConfigError` lists every problem.

    Every environment variable that a `*_env` field names must be set in `environ`.
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([Problem(name, 1, 1, f"cannot read the config file: {error}")]) from None
    raw, problems = load_yaml(text, name)
    if raw is None and not problems:
        problems.append(Problem(name, 1, 1, "the file is empty; a config needs at least `bots`"))
    elif raw is not None and not isinstance(raw, LineDict):
        problems.append(Problem(name, 1, 1, "a config file must be a mapping of keys"))
    if problems and not isinstance(raw, LineDict):
        raise ConfigError(problems)
    problems.extend(_duplicate_id_problems(name, raw))
    unresolved = interpolate(raw, environ, name)  # `${VAR}` references (config_env.py)
    problems.extend(unresolved)
    base = Path(path).absolute().parent
    try:
        settings = Settings.model_validate(raw, context={"base": base})
    except ValidationError as error:
        found = (
            _problem(name, raw, detail)
            for detail in error.errors()
            if detail["type"] != _DUPLICATE_BOT_ID  # reported from the file, with its line
        )
        # A value left empty by an unset variable is reported once, as that.
        places = {(problem.line, problem.column) for problem in unresolved}
        problems.extend(
            problem for problem in found if (problem.line, problem.column) not in places
        )
        raise ConfigError(problems) from None
    settings._source = (name, raw)
    problems.extend(_secret_problems(settings, settings, (), environ))
    problems.extend(_provider_problems(settings))
    problems.extend(_sender_problems(settings, date.today()))
    if problems:
        raise ConfigError(problems)
    return settings


def _sender_problems(settings: Settings, today: date) -> Iterator[Problem]:
    """R27: a SenderID the AF2M lists forbid, or that needs an authorisation it lacks, is a
    configuration error, never a silent rewrite."""
    rules = settings.compliance.sender_ids.rules()
    for index, bot in enumerate(settings.bots):
        if bot.sms is not None:
            problem = rules.check(bot.sms.sender, today)
            if problem is not None:
                yield settings.where("bots", index, "sms", "sender").problem(problem)


def _provider_problems(settings: Settings) -> Iterator[Problem]:
    """A bot's channel needs its provider configured."""
    providers = settings.providers
    for index, bot in enumerate(settings.bots):
        if bot.rcs is not None and providers.rbm is None:
            yield settings.where("bots", index, "rcs").problem("RCS needs `providers.rbm`")
        for channel in ("t2c", "sms"):
            if getattr(bot, channel) is not None and providers.smsmode is None:
                yield settings.where("bots", index, channel).problem(
                    f"{channel.upper()} needs `providers.smsmode`"
                )


def _duplicates(ids: Iterable[tuple[int, object]]) -> Iterator[tuple[int, object, int]]:
    """(index, id, index of its first use) for every repeated id."""
    first: dict[object, int] = {}
    for index, bot_id in ids:
        if bot_id in first:
            yield index, bot_id, first[bot_id]
        else:
            first[bot_id] = index


def _duplicate_id_problems(path: str, raw: LineDict) -> Iterator[Problem]:
    """Repeated bot ids, read from the file so that they show even beside other errors."""
    bots = raw.get("bots")
    if not isinstance(bots, LineList):
        return
    ids = [
        (index, bot["id"])
        for index, bot in enumerate(bots)
        if isinstance(bot, LineDict) and isinstance(bot.get("id"), str)
    ]
    for index, bot_id, first in _duplicates(ids):
        line, column = bots[index].pos["id"]
        first_line = bots[first].pos["id"][0]
        message = f"bots[{index}].id: duplicate bot id `{bot_id}` (first at line {first_line})"
        yield Problem(path, line, column, message)


def _problem(path: str, raw: LineDict, detail: ErrorDetails) -> Problem:
    """`flows.validation.problem_from_error`, with hints and words for the config's keys."""
    loc = tuple(detail["loc"])
    if detail["type"] == "extra_forbidden":
        line, column = key_position(raw, loc)
        where = dotted(walk(raw, loc[:-1])[1])
        message = f"unknown key `{loc[-1]}`"
        model = _model_at(loc[:-1])
        known = sorted(model.model_fields) if model else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        if close:
            message += f" (did you mean `{close[0]}`?)"
        return Problem(path, line, column, f"{where}: {message}" if where else message)
    if detail["type"] == "model_type":
        # pydantic's wording names the Python class; a YAML author wrote something else.
        given = detail["input"]
        detail = detail.copy()
        detail["msg"] = "expected keys and values, not " + (
            "a list" if isinstance(given, list) else f"`{given}`"
        )
    return problem_from_error(path, raw, detail)


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The model that validates the mapping at `loc` (list indexes skipped)."""
    model: type[BaseModel] = Settings
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        inner = _inner_model(field.annotation) if field else None
        if inner is None:
            return None
        model = inner
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        found = _inner_model(argument)
        if found is not None:
            return found
    return None


def _secret_problems(
    settings: Settings, model: BaseModel, loc: Loc, environ: Mapping[str, str]
) -> Iterator[Problem]:
    """A problem for each `*_env` field, at any depth, whose variable is not set."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        here = (*loc, name)
        if name.endswith("_env") and isinstance(value, str):
            try:
                require_env(environ, value, settings.where(*here))
            except ConfigError as error:
                yield from error.problems
        elif isinstance(value, BaseModel):
            yield from _secret_problems(settings, value, here, environ)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from _secret_problems(settings, item, (*here, index), environ)
