"""The /wechat endpoint (服务器配置 URL)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from wechat.signature import check_signature

bp = Blueprint("wechat", __name__)


@bp.get("/wechat")
def verify_url() -> Response:
    """URL verification: echo `echostr` verbatim when the signature matches (message_push.md)."""
    args = request.args
    if not check_signature(
        current_app.config["WECHAT_TOKEN"], args.get("signature", ""), args.get("timestamp", ""), args.get("nonce", "")
    ):
        return Response("forbidden", status=403, mimetype="text/plain")
    return Response(args.get("echostr", ""), mimetype="text/plain")
