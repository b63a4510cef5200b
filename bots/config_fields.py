"""The field types of `bots.yaml`: durations, time zones, ids, numbers, SenderIDs, and the
base model every section of the file derives from (unknown keys refused, values frozen)."""

from __future__ import annotations

import difflib
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo

from compliance.sender_ids import sender_id_problem
from flows.durations import parse_duration
from messaging.phone import InvalidPhoneError, Phone

_BOT_ID = re.compile(r"^[a-z0-9_-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def base_folder(info: ValidationInfo) -> Path:
    """The folder relative paths start from: the config file's, else the working directory."""
    context = info.context if isinstance(info.context, dict) else {}
    base = context.get("base")
    return base if isinstance(base, Path) else Path.cwd()


def _duration(value: object) -> object:
    if isinstance(value, timedelta):
        return value
    # parse_duration names a value of the wrong type in its own error message.
    return parse_duration(cast(str, value))


def _zone(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    message = f"unknown time zone `{value}`"
    close = difflib.get_close_matches(value, sorted(available_timezones()), n=1)
    raise ValueError(message + (f" (did you mean `{close[0]}`?)" if close else ""))


def check_bot_id(value: str) -> str:
    if not _BOT_ID.match(value):
        raise ValueError(f"`{value}` is not a bot id: use only a-z, 0-9, `_` and `-`")
    return value


def check_t2c_number(value: str) -> str:
    try:
        phone = Phone(value)
    except InvalidPhoneError as error:
        raise ValueError(str(error)) from None
    if not phone.e164.startswith("+339"):
        raise ValueError(f"`{value}` is not a French 09 number (Time2Chat, R11)")
    return phone.e164


def check_sender_id(value: str) -> str:
    problem = sender_id_problem(value)  # R27
    if problem is not None:
        raise ValueError(problem)
    return value


def check_env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError(f"`{value}` is not an environment variable name")
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]
"""`30s`, `10m`, `1h30m`, as flows write durations."""

TimeZone = Annotated[ZoneInfo, BeforeValidator(_zone)]


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
