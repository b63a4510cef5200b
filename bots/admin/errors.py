"""The admin API's errors: every one answers `{"error": {"code", "message", "details"?}}`
(`models.ErrorResponse`) with its status, and no input ever gets a 5xx."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import ValidationError

from bots.admin.models import ErrorBody, ErrorResponse, FieldError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Answer with `status` and the error shape; `message` never quotes the request."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Sequence[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details) if details is not None else None
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        body = ErrorResponse(error=ErrorBody(code=self.code, message=self.message))
        body.error.details = self.details
        return web.json_response(
            body.model_dump(mode="json", exclude_none=True),
            status=self.status,
            headers=self.headers,
        )


def invalid(error: ValidationError, where: str) -> ApiError:
    """A 400 naming each field's problem (location and message; never the input)."""
    details = [
        FieldError(loc=[where, *e["loc"]], msg=e["msg"])
        for e in error.errors(include_url=False, include_input=False, include_context=False)
    ]
    return ApiError(400, "invalid_request", "the request is not valid", details)


_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The outermost middleware: `ApiError`s and aiohttp's own HTTP errors in the one shape."""
    try:
        return await handler(request)
    except ApiError as error:
        return error.response()
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = _HTTP_CODES.get(error.status, "bad_request" if error.status < 500 else "error")
        return ApiError(error.status, code, error.reason.lower()).response()
