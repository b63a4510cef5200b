"""The admin REST API, under `/v1/` of the bot server (docs/admin-api.md).

`models.py` holds the wire shapes, `errors.py` the one error shape, `auth.py` the bearer
tokens, `operations.py` the descriptor of an operation from which its route and its part of
`openapi.py`'s document are built; the operations themselves are in one module per area,
gathered by `areas.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from bots.admin.areas import OPERATIONS
from bots.admin.auth import auth_middleware
from bots.admin.errors import error_middleware
from bots.admin.openapi import OPENAPI_PATH, openapi_document, openapi_page
from bots.admin.operations import Admin, Operation, add_operations
from bots.runtime import Runtime

PREFIX = "/v1"


def admin_app(
    runtime: Runtime,
    *,
    erasure_salt: str | None = None,
    operations: Sequence[Operation] = OPERATIONS,
) -> web.Application:
    """The API as an application of its own, to mount at `PREFIX`. Without `erasure_salt`
    (compliance.erasure_salt_env's value) erasure answers 409."""
    app = web.Application(middlewares=[error_middleware, auth_middleware(runtime.store)])
    app.router.add_get(OPENAPI_PATH, openapi_page(openapi_document(operations)))
    add_operations(app, Admin(runtime, erasure_salt), operations)
    return app


def add_admin_api(
    app: web.Application, runtime: Runtime, *, erasure_salt: str | None = None
) -> None:
    """Mount the API under `/v1` of the bot server."""
    app.add_subapp(PREFIX, admin_app(runtime, erasure_salt=erasure_salt))
