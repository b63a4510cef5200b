"""The admin REST API, under `/v1/` of the bot server (docs/admin-api.md).

`models.py` holds the wire shapes, `errors.py` the one error shape, `auth.py` the bearer
tokens, `routes.py` the handlers, `openapi.py` the document generated from the models.
"""

from __future__ import annotations

from aiohttp import web

from bots.admin.auth import auth_middleware
from bots.admin.errors import error_middleware
from bots.admin.openapi import OPENAPI_PATH, openapi_page
from bots.admin.routes import AdminRoutes
from bots.runtime import Runtime

PREFIX = "/v1"


def admin_app(runtime: Runtime) -> web.Application:
    """The API as an application of its own, to mount at `PREFIX`."""
    app = web.Application(middlewares=[error_middleware, auth_middleware(runtime.store)])
    app.router.add_get(OPENAPI_PATH, openapi_page)
    AdminRoutes(runtime).add_to(app)
    return app


def add_admin_api(app: web.Application, runtime: Runtime) -> None:
    """Mount the API under `/v1` of the bot server."""
    app.add_subapp(PREFIX, admin_app(runtime))
