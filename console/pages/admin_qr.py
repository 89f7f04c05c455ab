"""管理 › 楼栋二维码: a printable sheet with one WeChat QR code per building; scanning it binds the resident to the
building (the webhook's subscribe/SCAN handler, `services.organisation.residents.bind_by_scene`).

The codes are permanent string-scene QR codes (QR_LIMIT_STR_SCENE) issued by WeChat through the project's client:
https://developers.weixin.qq.com/doc/offiaccount/Account_Management/Generating_a_Parametric_QR_Code.html — the
content WeChat returns (`url`) is drawn here as SVG, the way the sign-in page draws its QR code.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from flask import redirect, request, url_for

from console.pages.admin_org import estate_rows, grid_rows
from console.pages.signin import qr_svg
from console.pages.web import bp, page, record, signed_in, staff
from infra.web import db_session
from services.organisation import building_qr
from services.organisation.admin_scope import require_admin
from wechat.client import WeChatAPIError, WeChatUnavailable, oa_client

log = logging.getLogger(__name__)


def _filter(source: Any) -> tuple[int | None, int | None]:
    def number(name: str) -> int | None:
        raw = str(source.get(name, "") or "")
        return int(raw) if raw.isdigit() and 0 < int(raw) < 2**31 else None

    return number("estate_id"), number("grid_id")


@bp.get("/admin/qr")
@signed_in
def admin_qr_sheet() -> Any:
    """The printable sheet: one card per building of the chosen estate or grid, with its QR code."""
    member = staff()
    require_admin(member)
    session = db_session()
    estate_id, grid_id = _filter(request.args)
    codes = building_qr.sheet(session, member, estate_id=estate_id, grid_id=grid_id)
    cards = [
        (code, qr_svg(code.scene.qr_url, f"{code.estate} {code.building} 居民绑定二维码")
         if code.scene is not None and code.scene.qr_url else None)
        for code in codes
    ]  # fmt: skip
    body = page("console/admin_qr.html", cards=cards, estates=estate_rows(session, member),
                grids=grid_rows(session, member), estate_id=estate_id, grid_id=grid_id,
                missing=sum(1 for _, svg in cards if svg is None), failed=request.args.get("failed"))  # fmt: skip
    session.commit()
    return body


@bp.post("/admin/qr")
@signed_in
def admin_qr_issue() -> Any:
    """Ask WeChat for the permanent QR code of every building on the sheet that has none yet."""
    member = staff()
    require_admin(member)
    session = db_session()
    estate_id, grid_id = _filter(request.form)
    issued, failed = 0, 0
    client = oa_client()
    for code in building_qr.sheet(session, member, estate_id=estate_id, grid_id=grid_id):
        if code.scene is not None and code.scene.qr_url:
            continue
        qr = building_qr.scene_for(session, member, code.building_id)
        try:
            answer = client.create_permanent_qr(qr.scene)
        except (WeChatAPIError, WeChatUnavailable, requests.RequestException) as e:
            log.warning("building QR not issued for scene %s: %s", qr.scene, e)
            failed += 1
            continue
        building_qr.record_ticket(session, qr, ticket=str(answer["ticket"]), url=str(answer["url"]))
        issued += 1
    record("issue_building_qr", "qr_scene", None, issued=issued, failed=failed, estate_id=estate_id, grid_id=grid_id)
    session.commit()  # codes WeChat issued are kept even when a later one failed: a retry asks only for the rest
    args = {k: v for k, v in (("estate_id", estate_id), ("grid_id", grid_id)) if v is not None}
    if failed:
        args["failed"] = failed
    return redirect(url_for("console_pages.admin_qr_sheet", **args), code=303)
