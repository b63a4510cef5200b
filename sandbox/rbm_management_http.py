"""The HTTP side of the RBM management emulator: Google's error envelope (rbm.md §6), request
bodies, list pages, and the dotted field paths of a PATCH `updateMask`."""

from __future__ import annotations

import copy
import json
from typing import Any

from aiohttp import web

from sandbox.rbm_schema import InvalidArgument
from sandbox.rbm_validation import E164

_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}
_STATUS |= {404: "NOT_FOUND", 409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}
_STATUS |= {503: "UNAVAILABLE"}
MESSAGES = {
    404: "Requested entity was not found.",
    409: "Requested entity already exists",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
}
NO_CREDENTIALS = (
    "Request is missing required authentication credential. Expected OAuth 2 access token,"
    " login cookie or other valid authentication credential."
)
BAD_CREDENTIALS = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token,"
    " login cookie or other valid authentication credential."
)


class ApiError(Exception):
    """An error answered in Google's envelope with `code` (and `Retry-After` when given)."""

    def __init__(self, code: int, message: str | None = None, *, retry_after: int | None = None):
        super().__init__(message or MESSAGES.get(code, "Unknown error."))
        self.code = code
        self.retry_after = retry_after


def error_response(code: int, message: str, *, status: str | None = None) -> web.Response:
    """Google's error JSON (rbm.md §6); a 401 carries the bearer challenge."""
    body = {
        "error": {
            "code": code,
            "message": message,
            "status": status or _STATUS.get(code, "UNKNOWN"),
        }
    }
    headers = (
        {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'} if code == 401 else None
    )
    return web.json_response(body, status=code, headers=headers)


async def read_body(request: web.Request) -> Any:
    """The request's JSON (`{}` when empty); a 400 as Google words it when unreadable."""
    try:
        return json.loads(await request.read() or b"{}")
    except ValueError:
        raise InvalidArgument("Invalid JSON payload received.") from None


def e164(value: Any, where: str) -> str:
    if not isinstance(value, str) or not E164.fullmatch(value):
        raise InvalidArgument(f"{where} is not an E.164 number (+33612345678)")
    return value


def page(key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    # proto-JSON leaves an empty repeated field out.
    return {key: items} if items else {}


def get_path(resource: dict[str, Any], path: str) -> Any:
    """The value at a dotted field path, None where it is missing."""
    value: Any = resource
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def apply_path(target: dict[str, Any], patch: dict[str, Any], path: str) -> None:
    """Copies `path` from `patch` into `target` (or removes it where `patch` lacks it)."""
    *parents, last = path.split(".")
    source: Any = patch
    for part in parents:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise InvalidArgument(f"updateMask: {path!r} is not a field")
        source = source.get(part, {}) if isinstance(source, dict) else {}
    if isinstance(source, dict) and last in source:
        target[last] = copy.deepcopy(source[last])
    else:
        target.pop(last, None)
