"""The admin API's OpenAPI 3.1 document (`/v1/openapi.json`), generated from the pydantic
models of `bots/admin/models.py`: the schemas cannot drift from what the routes validate."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

from bots.admin.models import (
    IDEMPOTENCY_KEY,
    MAX_IDEMPOTENCY_KEY,
    REQUEST_MODELS,
    RESPONSE_MODELS,
    ConversationList,
    ConversationView,
    ErrorResponse,
    StartConversation,
    StartedConversation,
)

OPENAPI_PATH = "/openapi.json"
REF = "#/components/schemas/{model}"


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (m, "validation") for m in REQUEST_MODELS
    ]
    models += [(m, "serialization") for m in RESPONSE_MODELS]
    for model, mode in models:
        schema = model.model_json_schema(ref_template=REF, mode=mode)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": REF.format(model=model.__name__)}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _errors(*statuses: tuple[int, str]) -> dict[str, Any]:
    return {str(status): _json(ErrorResponse, text) for status, text in statuses}


def openapi_document() -> dict[str, Any]:
    """The document, paths relative to the server's `/v1`."""
    start = {
        "operationId": "startConversation",
        "summary": "Start a bot's flow for one recipient",
        "description": (
            "Stores the start request; the conversation starts asynchronously in the worker."
            " Idempotent by `Idempotency-Key` (per token): a replay answers 200 with the first"
            " request's `inbox_seq` and `created: false`; the same key with another request"
            " answers 409."
        ),
        "parameters": [
            {"name": "bot", "in": "path", "required": True, "schema": {"type": "string"}},
            {
                "name": IDEMPOTENCY_KEY,
                "in": "header",
                "required": True,
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
            },
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref(StartConversation)}},
        },
        "responses": {
            "202": _json(StartedConversation, "Stored: the conversation will start."),
            "200": _json(StartedConversation, "A replay of an Idempotency-Key already used."),
            **_errors(
                (400, "Bad JSON, an invalid field or header (`details` names them)."),
                (401, "No token, an unknown one, or a revoked one."),
                (403, "The token is not scoped to this bot."),
                (404, "No bot has this id."),
                (409, "The Idempotency-Key was already used for another request."),
                (413, "The body is too large."),
            ),
        },
    }
    usage = {
        "operationId": "usage",
        "summary": "A bot's billing report for a calendar month",
        "description": (
            "Totals by channel and class, sessions opened, messages per session and operator"
            " shares, exact decimal amounts as strings (docs/billing.md)."
        ),
        "parameters": [
            {"name": "bot", "in": "path", "required": True, "schema": {"type": "string"}},
            {
                "name": "month",
                "in": "query",
                "required": True,
                "schema": {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$"},
            },
        ],
        "responses": {
            "200": {
                "description": "The report (as `causette billing report --format json`).",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            **_errors(
                (400, "A missing or malformed `month`."),
                (401, "No token, an unknown one, or a revoked one."),
                (403, "The token is not scoped to this bot."),
                (404, "No bot has this id."),
            ),
        },
    }
    bot_parameter = {"name": "bot", "in": "path", "required": True, "schema": {"type": "string"}}
    auth_errors = (
        (401, "No token, an unknown one, or a revoked one."),
        (403, "The token is not scoped to this bot."),
    )
    listing = {
        "operationId": "listConversations",
        "summary": "A bot's live conversations (active or handed off), oldest first",
        "parameters": [bot_parameter],
        "responses": {
            "200": _json(ConversationList, "The conversations, phones masked."),
            **_errors(*auth_errors, (404, "No bot has this id.")),
        },
    }
    showing = {
        "operationId": "showConversation",
        "summary": "One conversation with its transcript",
        "parameters": [
            bot_parameter,
            {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
        ],
        "responses": {
            "200": _json(ConversationView, "The conversation and its transcript, oldest first."),
            **_errors(*auth_errors, (404, "No bot, or no conversation of the bot, has this id.")),
        },
    }
    spec = {
        "summary": "This document",
        "operationId": "openapi",
        "security": [],
        "responses": {
            "200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Causette admin API", "version": "1"},
        "servers": [{"url": "/v1"}],
        "security": [{"bearer": []}],
        "paths": {
            "/bots/{bot}/conversations": {"post": start, "get": listing},
            "/bots/{bot}/conversations/{id}": {"get": showing},
            "/bots/{bot}/usage": {"get": usage},
            OPENAPI_PATH: {"get": spec},
        },
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


async def openapi_page(_: web.Request) -> web.Response:
    return web.json_response(openapi_document())
