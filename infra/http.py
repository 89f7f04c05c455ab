"""One JSON error shape for every API: {"code", "message", "details"} with the right 4xx.

`code` is stable English for programs; `message` is Chinese, for the people using the mini-program and the
console (field-level `details` keep pydantic's wording, keyed by field).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request
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
    return request.path.startswith(("/api/", "/console/", "/healthz"))


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


def register_domain_errors(app: Flask) -> None:
    """Map services.errors.DomainError to the JSON error shape with its status."""
    from services.errors import DomainError

    @app.errorhandler(DomainError)
    def _domain_error(e: DomainError) -> Response:
        return error_response(e.status, e.code, e.message, e.details)
