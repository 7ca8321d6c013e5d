"""The OpenAPI 3 document of /api/v1, built from the endpoint declarations and the error-code table."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, jsonify

from portal.core.permissions import public

from . import bp
from .errors import CODES
from .registry import AUTH_ERRORS, ENDPOINTS, SCOPES, VERSION

CONVERTER = re.compile(r"<(?:[a-z]+:)?([a-zA-Z_][a-zA-Z0-9_]*)>")
ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string", "enum": sorted(CODES)},
        "message": {"type": "string", "description": "中文说明"},
        "details": {"description": "可选：逐项错误（index、field、code、message）或其他细节"}}}},
}


def openapi_path(rule: str) -> str:
    return CONVERTER.sub(r"{\1}", rule)


def _parameter(param) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": param.type}
    if param.format:
        schema["format"] = param.format
    if param.enum:
        schema["enum"] = list(param.enum)
    return {"name": param.name, "in": param.where, "required": param.required or param.where == "path",
            "description": param.description, "schema": schema}


def _responses(declared) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "成功", "content": {
        "application/json": {"schema": declared.response or {"type": "object"}}}}}
    by_status: dict[int, list[str]] = {}
    for code in (*declared.errors, *AUTH_ERRORS):
        by_status.setdefault(CODES[code][0], []).append(code)
    for status, codes in sorted(by_status.items()):
        responses[str(status)] = {
            "description": "；".join(f"{c}：{CODES[c][1]}" for c in codes),
            "x-error-codes": codes,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    return responses


def build() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for declared in ENDPOINTS:
        operation: dict[str, Any] = {
            "operationId": declared.endpoint.split(".", 1)[1], "summary": declared.summary,
            "description": declared.description, "tags": [declared.tag],
            "x-scope": declared.scope.code, "security": [{"bearer": [declared.scope.code]}],
            "parameters": [_parameter(p) for p in declared.params],
            "responses": _responses(declared),
        }
        if declared.permission is not None:
            operation["x-permission"] = declared.permission.code
        if declared.request is not None:
            operation["requestBody"] = {"required": True,
                                        "content": {"application/json": {"schema": declared.request}}}
        paths.setdefault("/api/" + VERSION + openapi_path(declared.rule), {})[declared.method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": f"{current_app.config['HOSPITAL_NAME']} 医务管理平台接口", "version": VERSION,
                 "description": "院内系统（HIS、HR 等）调用的接口。认证：Authorization: Bearer <令牌>；"
                                "令牌只能调用其接口范围（scope）内的接口。"
                                "错误格式与错误码见 x-error-codes 与 docs/api.md。"},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "接口令牌；范围：" + "，".join(
                                               f"{s.code}（{s.label}）" for s in SCOPES.values())}},
            "schemas": {"Error": ERROR_SCHEMA},
        },
        "x-error-codes": {code: {"status": status, "message": text} for code, (status, text) in CODES.items()},
        "x-scopes": {s.code: {"label": s.label, "description": s.description} for s in SCOPES.values()},
    }


@bp.route("/openapi.json")
@public
def openapi_document():
    """The OpenAPI 3 document of every /api/v1 endpoint (public: it holds no data)."""
    return jsonify(build())
