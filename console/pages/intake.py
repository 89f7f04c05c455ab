"""代录诉求: staff file an appeal for a resident who phoned or walked in, or a grid worker's patrol report."""

from __future__ import annotations

import re
from typing import Any

from flask import redirect, request, url_for
from sqlalchemy import select

from console.pages.web import bp, media_dir, page, record, signed_in, staff
from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from models.org import Building, Estate
from services.appeals.photos import MAX_PHOTO_BYTES, PhotoRefused, attach_photo
from services.appeals.records import Actor
from services.console.intake import CHANNELS, GRID_ROLES, file_on_behalf
from services.errors import DomainError

PHONE = re.compile(r"1\d{10}|0\d{2,3}-?\d{7,8}")


def _buildings() -> list[tuple[int, str]]:
    member = staff()
    stmt = select(Building, Estate).join(Estate, Estate.id == Building.estate_id).order_by(Estate.code, Building.name)
    if member.role in GRID_ROLES:
        stmt = stmt.where(Building.grid_id == member.grid_id)
    return [(b.id, f"{e.name} {b.name}") for b, e in db_session().execute(stmt)]


def _form(errors: dict[str, str] | None = None, status: int = 200) -> Any:
    member = staff()
    channels = {k: v for k, v in CHANNELS.items() if k != "patrol" or member.role in GRID_ROLES}
    return page("console/intake.html", status, channels=channels, buildings=_buildings(), errors=errors or {},
                form=request.form)  # fmt: skip


@bp.get("/intake")
@signed_in
def intake_form() -> Any:
    """The intake form."""
    body = _form()
    db_session().commit()
    return body


@bp.post("/intake")
@signed_in
def intake_submit() -> Any:
    """File the appeal; on a mistake the form comes back with each error next to its field."""
    member = staff()
    form = request.form
    errors: dict[str, str] = {}
    channel = form.get("channel", "")
    if channel not in CHANNELS:
        errors["channel"] = "请选择受理渠道。"
    text = form.get("text", "").strip()
    if not 4 <= len(text) <= 2000:
        errors["text"] = "请描述问题（4–2000 个字）。"
    phone = form.get("phone", "").strip().replace(" ", "") or None
    if phone and not PHONE.fullmatch(phone):
        errors["phone"] = "电话号码格式不正确（手机 11 位，或带区号的座机）。"
    if channel in ("phone", "walk_in") and not phone:
        errors["phone"] = "电话来电、来访需要登记居民的联系电话。"
    raw_building = form.get("building_id", "")
    if not raw_building.isdigit():
        errors["building_id"] = "请选择问题所在的楼栋。"
    name = form.get("name", "").strip()[:50] or None
    if errors:
        body = _form(errors, 422)
        db_session().rollback()
        return body
    session = db_session()
    upload = request.files.get("photo")
    photo = upload.read(MAX_PHOTO_BYTES + 1) if upload is not None and upload.filename else b""
    try:
        appeal = file_on_behalf(session, member, channel=channel, text=text, building_id=int(raw_building),
                                phone=phone, name=name)  # fmt: skip
        if photo:  # in the same transaction: a refused photo files nothing
            attach_photo(session, appeal, actor=Actor("staff", member.id, member.role), directory=media_dir(),
                         data=photo, note="代录时上传")  # fmt: skip
    except DomainError as e:
        session.rollback()
        body = _form({"photo" if isinstance(e, PhotoRefused) else "building_id": e.message}, e.status)
        session.rollback()
        return body
    record("intake", "appeal", appeal.public_id, channel=channel)
    commit_and_enqueue(session)
    return redirect(url_for("console_pages.appeal_page", public_id=appeal.public_id), code=303)
