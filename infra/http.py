"""One JSON error shape for every API: {"code", "message", "details"} with the right 4xx; hostile input guards.

`code` is stable English for programs; `message` is Chinese, for the people using the mini-program and the
console (field-level `details` keep pydantic's wording, keyed by field).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, jsonify, request
from flask.json.provider import DefaultJSONProvider
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException


class ApiError(Exception):
    """A refusal with a machine-readable code and a message a person can read."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    """Build the JSON error response."""
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    response = jsonify(body)
    response.status_code = status
    return response


def validation_error_response(e: ValidationError) -> Response:
    """flask-openapi3's validation callback: pydantic errors as a 422 with per-field details."""
    details = [
        {"field": ".".join(str(p) for p in err.get("loc", ())), "message": err.get("msg", ""), "type": err["type"]}
        for err in e.errors(include_url=False, include_context=False, include_input=False)
    ]
    return error_response(422, "validation_error", "请求内容或参数不正确", details)


# Werkzeug's own refusals (unknown URL, wrong method, body too large …) in the API's language.
HTTP_MESSAGES = {
    400: "请求格式不正确",
    401: "请先登录",
    403: "没有权限",
    404: "没有这个地址",
    405: "这个地址不支持该请求方法",
    409: "请求与当前状态冲突",
    413: "请求内容过大",
    415: "不支持的请求内容类型",
    429: "请求过于频繁，请稍后再试",
}


def _is_api_request() -> bool:
    return request.path.startswith(("/api/", "/console/api", "/healthz"))


def register_error_handlers(app: Flask) -> None:
    """Make every API error JSON; the webhook has its own rules (it must answer WeChat in its dialect)."""

    @app.errorhandler(ApiError)
    def _api_error(e: ApiError) -> Response:
        return error_response(e.status, e.code, e.message, e.details)

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException) -> Response | HTTPException:
        if not _is_api_request():
            return e
        code = (e.name or "error").lower().replace(" ", "_")
        status = e.code or 500
        return error_response(status, code, HTTP_MESSAGES.get(status, "请求未能完成"))

    @app.errorhandler(Exception)
    def _unhandled(e: Exception) -> Response:
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if request.path.startswith("/wechat"):
            # WeChat shows "该公众号暂时无法提供服务" for anything but a valid reply; `success` is always valid.
            return Response("success", mimetype="text/plain")
        return error_response(500, "internal_error", "服务器内部错误，请求未完成")


# ---------------------------------------------------------------- hostile input

# No request body of hongguan's is nested more than a few levels; Python's JSON parser and pydantic recurse,
# so a body nested a thousand deep would exhaust the interpreter's stack (RecursionError, an HTTP 500).
MAX_JSON_DEPTH = 32
NUL = "\x00"
_NUL_ESCAPE = "\\u0000"  # how U+0000 appears in JSON text (a raw NUL byte is invalid JSON)


def json_too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when a parsed document nests arrays/objects more than `limit` levels (iterative, level by level)."""
    level = [value] if isinstance(value, (dict, list)) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [
            child
            for container in level
            for child in (container.values() if isinstance(container, dict) else container)
            if isinstance(child, (dict, list))
        ]
    return False


def json_has_nul(value: Any) -> bool:
    """True when any key or string of a parsed document holds U+0000 (iterative)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class GuardedJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, refusing over-deep documents (400) and text holding NUL characters (422).

    Python's C parser guards its own recursion (RecursionError, caught here); pydantic and the handlers
    would not, so nothing nested deeper than MAX_JSON_DEPTH gets past parsing. NUL is refused rather than
    stripped, on every database alike: PostgreSQL cannot store U+0000 in text while SQLite would keep it,
    and silently changing what a resident wrote is worse than asking again.
    """

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse like Flask does; then refuse documents that are too deep or hold NUL characters."""
        text = s.decode(json.detect_encoding(s), "surrogatepass") if isinstance(s, (bytes, bytearray)) else s
        try:
            value = super().loads(text, **kwargs)
        except RecursionError:
            value, too_deep = None, True
        else:
            too_deep = json_too_deep(value)
        if too_deep:
            raise ApiError(400, "json_too_deep", f"JSON nested deeper than {MAX_JSON_DEPTH} levels is refused")
        # Only a text holding the escape can hold a NUL; the walk then tells an escaped backslash from it.
        if _NUL_ESCAPE in text and json_has_nul(value):
            raise ApiError(422, "nul_character", "text must not contain NUL (U+0000) characters")
        return value


def _nul_in_request() -> bool:
    """True when the path, a query or form field (name or value) holds a NUL character."""
    if NUL in request.path:
        return True
    fields = [request.args]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        fields.append(request.form)
    return any(NUL in key or any(NUL in v for v in values) for md in fields for key, values in md.lists())


def install_input_guards(app: Flask) -> None:
    """Guard every API against hostile input: deep JSON (400), NUL characters in JSON, query, form, path (422)."""
    provider = GuardedJSONProvider(app)
    for option in ("ensure_ascii", "sort_keys", "compact", "mimetype"):
        setattr(provider, option, getattr(app.json, option))
    app.json = provider

    @app.before_request
    def _refuse_nul() -> Response | None:
        if _is_api_request() and _nul_in_request():
            return error_response(422, "nul_character", "text must not contain NUL (U+0000) characters")
        return None
