"""One descriptor per operation of the admin API, from which both the aiohttp routes and the
OpenAPI document (bots/admin/openapi.py) are built, so that neither can drift from the other.

An area module (conversations, handoffs, contacts...) lists its `Operation`s; `areas.py`
gathers the lists. The route built for an operation checks what its descriptor declares before
the handler runs: the path's bot exists, the token may act on every bot (`scope="all"`),
declared headers, the query (a pydantic model) and the JSON body (another) are valid. The
handler reads what was checked with `query_of` and `body_of`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from bots.admin.auth import TOKEN
from bots.admin.errors import ApiError, invalid
from bots.admin.models import FieldError
from bots.runtime import Runtime
from messaging.phone import InvalidPhoneError, Phone
from store.tokens_records import ALL_BOTS

MAX_BODY = 64 * 1024
"""The largest request body read (bytes); a larger one is refused with 413."""

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Admin:
    """What every handler works with: the runtime, and the deployment's erasure salt (R34;
    None: erasure through the API is refused)."""

    runtime: Runtime
    erasure_salt: str | None = None

    def bot(self, request: web.Request) -> str:
        """The path's bot, known to the runtime (checked before the handler runs)."""
        return request.match_info["bot"]

    def business(self, bot: str) -> str:
        """Who the bot's opt-outs and red list belong to (R25, R6)."""
        return self.runtime.worker.bots[bot].business


Handler = Callable[[Admin, web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Header:
    """A request header an operation reads (checked: present, 1 to `max_length` chars)."""

    name: str
    description: str
    max_length: int


@dataclass(frozen=True, slots=True)
class Answer:
    """A success answer: its status, and its body's model (None: `schema` describes it)."""

    status: int
    description: str
    model: type[BaseModel] | None = None
    schema: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Operation:
    method: Literal["GET", "POST", "DELETE"]
    path: str
    """Relative to `/v1`; `{bot}`, `{id}`, `{phone}` are its path parameters."""
    operation_id: str
    summary: str
    handler: Handler
    answers: tuple[Answer, ...]
    description: str = ""
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    headers: tuple[Header, ...] = ()
    errors: tuple[tuple[int, str], ...] = ()
    """The error statuses of this operation besides the ones every operation of its kind has
    (401, 403, 404 for an unknown bot, 400 for bad input, 413 for a large body)."""
    scope: Literal["bot", "all"] = "bot"
    """`all`: only a token of every bot (`*`) may call it (the deployment's address book)."""
    upload: str | None = None
    """The media type of a body that is not JSON (`text/csv`): the handler reads and checks
    it itself, as it streams."""

    @property
    def path_names(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    def standard_errors(self) -> list[tuple[int, str]]:
        """Every error status the operation may answer, with what it means, by status."""
        found = dict(self.errors)
        found.setdefault(401, "No token, an unknown one, or a revoked one.")
        if "bot" in self.path_names:
            found.setdefault(403, "The token is not scoped to this bot.")
            found.setdefault(404, "No bot has this id.")
        if self.scope == "all":
            found.setdefault(403, "Only a token of every bot (`*`) may call this.")
        if self.query or self.body or self.upload or self.headers or self.path_names:
            found.setdefault(400, "An invalid field, parameter or header (`details` names it).")
        if self.body is not None or self.upload is not None:
            found.setdefault(413, "The body is too large.")
        return sorted(found.items())


def add_operations(app: web.Application, admin: Admin, operations: Sequence[Operation]) -> None:
    """A route for each operation, checking what it declares before calling its handler."""
    for operation in operations:
        app.router.add_route(operation.method, operation.path, partial(_run, admin, operation))


_QUERY: web.RequestKey[BaseModel] = web.RequestKey("admin_query", BaseModel)
_BODY: web.RequestKey[BaseModel] = web.RequestKey("admin_body", BaseModel)


async def _run(admin: Admin, operation: Operation, request: web.Request) -> web.StreamResponse:
    for name in operation.path_names:
        _check_text(request.match_info[name], ["path", name])
    if "bot" in operation.path_names and request.match_info["bot"] not in admin.runtime.flow_files:
        raise ApiError(404, "unknown_bot", "no bot has this id")
    if operation.scope == "all" and ALL_BOTS not in request[TOKEN].scopes:
        raise ApiError(403, "forbidden", "only a token of every bot (`*`) may call this")
    for header in operation.headers:
        header_value(request, header)
    if operation.query is not None:
        try:
            request[_QUERY] = operation.query.model_validate(_query_values(request))
        except ValidationError as error:
            raise invalid(error, "query") from None
    if operation.body is not None:
        try:
            request[_BODY] = operation.body.model_validate(await json_body(request))
        except ValidationError as error:
            raise invalid(error, "body") from None
    return await operation.handler(admin, request)


def _query_values(request: web.Request) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in request.query:
        if name in values:
            raise bad_input(["query", name], "given more than once")
        values[name] = request.query[name]
        _check_text(values[name], ["query", name])
    return values


def query_of(request: web.Request, model: type[M]) -> M:
    """The query checked against the operation's `query` model."""
    return _checked(request[_QUERY], model)


def body_of(request: web.Request, model: type[M]) -> M:
    """The body checked against the operation's `body` model."""
    return _checked(request[_BODY], model)


def _checked(value: BaseModel, model: type[M]) -> M:
    if not isinstance(value, model):  # the descriptor and its handler disagree: a bug
        raise TypeError(f"the operation declares {type(value).__name__}, not {model.__name__}")
    return value


def bad_input(loc: list[str | int], message: str) -> ApiError:
    """A 400 naming one input's problem (never quoting it)."""
    return ApiError(
        400, "invalid_request", "the request is not valid", [FieldError(loc=loc, msg=message)]
    )


def header_value(request: web.Request, header: Header) -> str:
    value = request.headers.get(header.name, "")
    if not 1 <= len(value) <= header.max_length:
        raise bad_input(["header", header.name], f"required, 1 to {header.max_length} characters")
    _check_text(value, ["header", header.name])  # aiohttp reads bytes that are not UTF-8 as
    return value  # lone surrogates


def path_phone(request: web.Request) -> Phone:
    """The path's `{phone}` (E.164 or national, URL-encoded), or a 400."""
    try:
        return Phone(request.match_info["phone"])
    except (InvalidPhoneError, ValueError):
        raise bad_input(["path", "phone"], "not a valid phone number") from None


def _check_text(value: str, loc: list[str | int]) -> None:
    """Strings no store could write (lone surrogates, NUL) are bad input, not a store failure."""
    try:
        value.encode("utf-8")
    except UnicodeError:
        raise bad_input(loc, "not valid UTF-8") from None
    if "\x00" in value:
        raise bad_input(loc, "contains a NUL character")


async def json_body(request: web.Request) -> Any:
    """The body read as JSON (413 past `MAX_BODY`); strings that no store could write (lone
    surrogates) are bad input, not a store failure."""
    if (request.content_length or 0) > MAX_BODY:
        raise ApiError(413, "payload_too_large", f"the body is over {MAX_BODY} bytes")
    raw = await request.read()  # bounded by the server's `client_max_size` too
    if len(raw) > MAX_BODY:
        raise ApiError(413, "payload_too_large", f"the body is over {MAX_BODY} bytes")
    try:
        body = json.loads(raw, parse_constant=_no_constant, parse_int=_int64)
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeError, RecursionError):
        raise ApiError(400, "invalid_json", "the body is not valid UTF-8 JSON") from None
    return body


_INT64 = 2**63


def _int64(digits: str) -> int:
    """Integers as every store keeps them (MongoDB: 64 bits); a larger one is bad input."""
    value = int(digits)
    if not -_INT64 <= value < _INT64:
        raise ValueError("an integer out of the 64-bit range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def answer(model: BaseModel, status: int = 200) -> web.Response:
    """A success answer with the model's JSON."""
    return web.json_response(model.model_dump(mode="json"), status=status)
