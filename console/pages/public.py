"""The public 红黑榜 page (/public/rankings): property companies ranked, no sign-in.

Aggregates only: company names, their ratings count, satisfied count, rate, smoothed score, rank and list,
with the period and the method text the snapshot was computed with. Nothing about a resident, a staff member
or an appeal's text is read here. The same snapshot the staff page shows (`services.appeals.property_ranking`).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request

from console.pages.web import CSP
from infra.web import db_session
from services.appeals import property_ranking as ranking
from services.errors import NotFound

bp = Blueprint("public_pages", __name__, url_prefix="/public", template_folder="../templates")
# The page changes once a month: browsers and proxies may keep it for five minutes.
CACHE_SECONDS = 300


@bp.get("/rankings")
def public_rankings() -> Any:
    """物业服务红黑榜 for residents: the newest monthly snapshot (or `?period=YYYY-MM`), with its method."""
    period = request.args.get("period", "").strip() or None
    if period is not None and not (len(period) == 7 and period[4] == "-" and period.replace("-", "").isdigit()):
        return render_template(
            "console/public_rankings.html", view=None, error="月份格式应为 年-月（如 2026-11）。"
        ), 400
    session = db_session()
    try:
        view = ranking.snapshot_view(session, ranking.latest_snapshot(session, period))
    except NotFound:
        view = None
    finally:
        session.rollback()
    status = 200 if view is not None or period is None else 404
    days = ranking.window_days(view) if view is not None else None
    return render_template("console/public_rankings.html", view=view, days=days, error=None), status


@bp.after_request
def _headers(response: Response) -> Response:
    """The console's Content-Security-Policy (no script, no inline style); a short public cache."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    if response.status_code == 200:
        response.headers["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
    return response
