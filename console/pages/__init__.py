"""The staff console's web pages under /console/ (the JSON API stays at /console/api).

One blueprint (`console.pages.web.bp`), one base layout, one sign-in and CSRF mechanism; a module per feature.
"""

from __future__ import annotations

from flask import Response

from console.pages import (
    admin,
    admin_activities,
    admin_loop,
    admin_org,
    admin_qr,
    appeal,
    callups,
    cobuilding,
    cobuilding_orders,
    councils,
    dashboards,
    failed,
    inbox,
    intake,
    kpi,
    notices,
    participation,
    party,
    public,
    reports,
    signin,
    volunteers,
    web,
    wechat_bind,
)
from console.pages.web import PageError, bp
from infra.http import error_response

__all__ = [
    "admin",
    "admin_activities",
    "admin_loop",
    "admin_org",
    "admin_qr",
    "appeal",
    "callups",
    "cobuilding",
    "cobuilding_orders",
    "councils",
    "dashboards",
    "failed",
    "inbox",
    "intake",
    "kpi",
    "notices",
    "participation",
    "party",
    "public",
    "reports",
    "signin",
    "volunteers",
    "web",
    "wechat_bind",
]

__all__ = ["appeal", "dashboards", "failed", "inbox", "intake", "kpi", "notices", "reports", "signin", "web"]


@bp.get("/<path:rest>")
def _unknown(rest: str) -> Response:
    """Any other address under /console/ is a Chinese 404 page (an unknown API address stays a JSON 404)."""
    if rest.startswith("api/"):
        return error_response(404, "not_found", "没有这个接口")
    raise PageError(404, "您要找的页面不存在。")
