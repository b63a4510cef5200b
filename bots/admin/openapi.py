"""The admin API's OpenAPI 3.1 document (`/v1/openapi.json`), built from the operations'
descriptors (bots/admin/operations.py) and their pydantic models: the document describes
exactly the routes served, and its schemas are what the routes validate and answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

from bots.admin.models import ErrorResponse
from bots.admin.operations import Answer, Operation

OPENAPI_PATH = "/openapi.json"
REF = "#/components/schemas/{model}"

PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "bot": {"type": "string", "description": "The bot's id, as in the configuration."},
    "id": {"type": "string", "description": "A conversation's id."},
    "campaign": {"type": "string", "description": "A campaign's id."},
    "phone": {
        "type": "string",
        "description": "A phone number, E.164 (URL-encoded `+`) or French national form.",
    },
}


class _Schemas:
    """The components' schemas, gathered while the operations are described."""

    def __init__(self) -> None:
        self.found: dict[str, Any] = {}

    def ref(self, model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        name = model.__name__
        if name not in self.found:
            schema = model.model_json_schema(ref_template=REF, mode=mode)
            self.found.update(schema.pop("$defs", {}))
            self.found[name] = schema
        return {"$ref": REF.format(model=name)}

    def json(
        self, description: str, model: type[BaseModel], mode: JsonSchemaMode
    ) -> dict[str, Any]:
        content = {"application/json": {"schema": self.ref(model, mode)}}
        return {"description": description, "content": content}


def _answer(schemas: _Schemas, answer: Answer) -> dict[str, Any]:
    if answer.model is not None:
        return schemas.json(answer.description, answer.model, "serialization")
    schema = answer.schema or {"type": "object"}
    return {"description": answer.description, "content": {"application/json": {"schema": schema}}}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """One parameter per field of a query model (query models hold plain scalar fields)."""
    schema = model.model_json_schema(mode="validation")
    required = set(schema.get("required", ()))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": {k: v for k, v in field.items() if k not in ("title", "description")},
            **({"description": field["description"]} if "description" in field else {}),
        }
        for name, field in schema["properties"].items()
    ]


def _operation(schemas: _Schemas, op: Operation) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": PATH_PARAMETERS[name]}
        for name in op.path_names
    ]
    parameters += [
        {
            "name": header.name,
            "in": "header",
            "required": True,
            "description": header.description,
            "schema": {"type": "string", "minLength": 1, "maxLength": header.max_length},
        }
        for header in op.headers
    ]
    if op.query is not None:
        parameters += _query_parameters(op.query)
    described: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary}
    if op.description:
        described["description"] = op.description
    if parameters:
        described["parameters"] = parameters
    if op.body is not None:
        content = {"application/json": {"schema": schemas.ref(op.body, "validation")}}
        described["requestBody"] = {"required": True, "content": content}
    elif op.upload is not None:
        content = {op.upload: {"schema": {"type": "string"}}}
        described["requestBody"] = {"required": True, "content": content}
    responses = {str(a.status): _answer(schemas, a) for a in op.answers}
    for status, text in op.standard_errors():
        responses[str(status)] = schemas.json(text, ErrorResponse, "serialization")
    described["responses"] = responses
    return described


def openapi_document(operations: Sequence[Operation]) -> dict[str, Any]:
    """The document of these operations, paths relative to the server's `/v1`."""
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(schemas, op)
    paths[OPENAPI_PATH] = {
        "get": {
            "summary": "This document",
            "operationId": "openapi",
            "security": [],
            "responses": {
                "200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}},
            },
        }
    }
    schemas.ref(ErrorResponse, "serialization")
    return {
        "openapi": "3.1.0",
        "info": {"title": "Causette admin API", "version": "1"},
        "servers": [{"url": "/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas.found,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def openapi_page(document: dict[str, Any]) -> Handler:
    """The handler serving `document` (built once, when the application is)."""

    async def page(_: web.Request) -> web.Response:
        return web.json_response(document)

    return page
