"""倡议 (call-ups): compose (shifts with place, time and quota; the audience; the sign-up window), send through the
outbox, and follow one call-up: the fill rate per shift (refreshed by htmx polling), the waitlist, the check-in
QR of each shift, check-in of a volunteer's own code, and the no-shows.

The views call the same services as the staff API (`console/volunteers.py`): `callups.create_callup`,
`send.start_send`, `callups.fill_rate`, `send.progress`, `callups.check_in`, `callups.close_callup`. The send is
recorded in the request's transaction and handed to RQ after the commit (`commit_and_enqueue`); the page says
it was queued and shows delivery only as the delivery ledger reports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app, redirect, request, url_for

from console.pages.signin import qr_svg
from console.pages.volunteers import community_id, form_status, grid_names, masked, organiser_only
from console.pages.web import PageError, bp, page, record, signed_in, staff
from infra import clock
from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from models.callup import Callup, CallupShift
from services.errors import DomainError
from services.volunteering import callups, send, teams

TIME_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y/%m/%d %H:%M")
SHIFT_ROWS = 3
MAX_FORM_ROWS = 20
STATUS_LABELS = {"open": "报名中", "closed": "已截止", "cancelled": "已取消"}
SIGNUP_LABELS = {
    "confirmed": "已确认",
    "waitlisted": "候补",
    "attended": "已签到",
    "no_show": "缺席",
    "cancelled": "已取消",
}
DONE = {
    "created": "倡议已创建，确认无误后点击“发送倡议”。",
    "queued": "已交给发送队列：消息将按微信的频率限制陆续送达，送达情况见下方。",
    "closed": "已截止报名。",
}


def parse_local(raw: str) -> datetime | None:
    """A Beijing wall-clock time typed as YYYY-MM-DD HH:MM, as an aware datetime (None if it does not parse)."""
    raw = raw.strip()
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(raw, fmt).replace(tzinfo=clock.LOCAL_TZ)
        except ValueError:
            continue
    return None


@dataclass
class Compose:
    """The compose form read from the request, with the mistakes found next to their fields."""

    title: str = ""
    description: str = ""
    shifts: list[callups.ShiftSpec] = field(default_factory=list)
    audience: dict[str, Any] = field(default_factory=dict)
    opens: datetime | None = None
    closes: datetime | None = None
    points: int = 0
    waitlist: int = 50
    errors: dict[str, str] = field(default_factory=dict)


def _int(raw: str, low: int, high: int) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isdigit() and low <= int(raw) <= high else None


def _ids(name: str) -> list[int]:
    values = request.form.getlist(name)[:100]
    if any(not v.isdigit() or not 0 < int(v) < 2**31 for v in values):
        raise PageError(400, "表单中的编号无效。")
    return [int(v) for v in values]


def read_compose() -> Compose:
    """Read the compose form; every field's mistake is explained in Chinese."""
    form = request.form
    out = Compose(title=form.get("title", "").strip(), description=form.get("description", "").strip())
    if not 2 <= len(out.title) <= 100:
        out.errors["title"] = "标题应为 2–100 个字。"
    if len(out.description) > 5000:
        out.errors["description"] = "说明不能超过 5000 个字。"
    places, starts, ends, quotas = (form.getlist(f"shift_{k}") for k in ("place", "starts", "ends", "quota"))
    for i, place in enumerate(places[:MAX_FORM_ROWS]):
        cells = [place, *(col[i] if i < len(col) else "" for col in (starts, ends, quotas))]
        if not any(c.strip() for c in cells):
            continue  # an empty row of the form
        start, end, quota = parse_local(cells[1]), parse_local(cells[2]), _int(cells[3], 1, 100_000)
        if not place.strip():
            out.errors[f"shift{i}"] = f"第 {i + 1} 个班次：请填写地点。"
        elif start is None or end is None:
            out.errors[f"shift{i}"] = f"第 {i + 1} 个班次：时间格式应为 2026-12-08 09:00。"
        elif end <= start:
            out.errors[f"shift{i}"] = f"第 {i + 1} 个班次：结束时间必须晚于开始时间。"
        elif quota is None:
            out.errors[f"shift{i}"] = f"第 {i + 1} 个班次：名额应为 1–100000 的整数。"
        else:
            out.shifts.append(callups.ShiftSpec(place.strip(), start, end, quota))
    if not out.shifts and not any(k.startswith("shift") for k in out.errors):
        out.errors["shifts"] = "请至少填写一个班次（地点、开始和结束时间、名额）。"
    out.audience = {
        "volunteers": form.get("volunteers") == "1",
        "party_members": form.get("party_members") == "1",
        "grid_ids": _ids("grid_ids"),
        "team_ids": _ids("team_ids"),
        "skills": [s for s in form.get("skills", "").replace("，", ",").replace("、", ",").split(",") if s.strip()],
    }
    if not out.audience["volunteers"] and not out.audience["party_members"]:
        out.errors["audience"] = "倡议对象至少选择志愿者或党员之一。"
    if form.get("opens", "").strip():
        out.opens = parse_local(form["opens"])
        if out.opens is None:
            out.errors["window"] = "报名开始时间格式应为 2026-12-08 09:00。"
    out.closes = parse_local(form.get("closes", ""))
    if out.closes is None:
        out.errors["window"] = "请填写报名截止时间，格式如 2026-12-08 09:00。"
    points = _int(form.get("points", "0") or "0", 0, 1000)
    waitlist = _int(form.get("waitlist", "50") or "0", 0, 100_000)
    if points is None:
        out.errors["points"] = "签到积分应为 0–1000 的整数。"
    if waitlist is None:
        out.errors["waitlist"] = "候补人数应为 0–100000 的整数。"
    out.points, out.waitlist = points or 0, waitlist or 0
    return out


def _compose_page(errors: dict[str, str] | None = None, status: int = 200) -> Any:
    organiser_only()
    session = db_session()
    rows = _int(request.values.get("rows", ""), 1, MAX_FORM_ROWS) or SHIFT_ROWS
    rows = max(rows, len(request.form.getlist("shift_place")))
    return page("console/callups/compose.html", status, grids=grid_names(),
                teams=teams.list_teams(session, community_id()), rows=min(rows, MAX_FORM_ROWS),
                errors=errors or {}, form=request.form, more=min(rows + 2, MAX_FORM_ROWS))  # fmt: skip


@bp.get("/callups")
@signed_in
def callups_page() -> Any:
    """倡议: the call-ups of my scope, newest first, with their fill rate."""
    staff_id = organiser_only()
    session = db_session()
    rows = []
    for c in callups.callups_for_staff(session, staff_id):
        shifts = callups.fill_rate(session, c.id)
        quota, taken = sum(s["quota"] for s in shifts), sum(s["taken"] for s in shifts)
        rows.append({"c": c, "quota": quota, "taken": taken, "shifts": len(shifts)})
    body = page("console/callups/list.html", rows=rows, status_labels=STATUS_LABELS)
    session.commit()
    return body


@bp.get("/callups/new")
@signed_in
def compose_callup() -> Any:
    """The compose form: what (shifts), who (the audience), and how long sign-up stays open."""
    body = _compose_page()
    db_session().commit()
    return body


@bp.post("/callups")
@signed_in
def create_callup() -> Any:
    """Create the call-up from the form (it is sent from its own page); mistakes come back next to their fields."""
    staff_id = organiser_only()
    session = db_session()
    form = read_compose()
    callup: Callup | None = None
    if not form.errors:
        assert form.closes is not None
        try:
            callup = callups.create_callup(
                session, staff_id, community_id=community_id(), title=form.title, description=form.description,
                shifts=form.shifts, audience=form.audience, signup_opens_at=form.opens,
                signup_closes_at=form.closes, points_on_attendance=form.points, waitlist_capacity=form.waitlist,
            )  # fmt: skip
        except DomainError as e:
            form_status(e)  # a refusal of scope shows the error page
            form.errors["form"] = e.message
    if callup is None:
        session.rollback()
        body = _compose_page(form.errors, 422)
        session.rollback()
        return body
    record("create_callup", "callup", callup.id, shifts=len(form.shifts), audience=form.audience)
    session.commit()
    return redirect(url_for("console_pages.callup_page", callup_id=callup.id, done="created"), code=303)


def fill_context(callup: Callup) -> dict[str, Any]:
    """The live part of a call-up page: fill per shift, totals and the send's progress."""
    session = db_session()
    shifts = callups.fill_rate(session, callup.id)
    quota, taken = sum(s["quota"] for s in shifts), sum(s["taken"] for s in shifts)
    return {
        "callup": callup,
        "shifts": shifts,
        "quota": quota,
        "taken": taken,
        "percent": round(100 * taken / quota) if quota else 0,
        "progress": send.progress(session, callup.id),
        "status_labels": STATUS_LABELS,
    }


def _callup_page(callup: Callup, error: str = "", status: int = 200, notice: str = "") -> Any:
    session = db_session()
    secret = current_app.config["SECRET_KEY"]
    signups = callups.signups_of(session, callup.id)
    by_shift: dict[int, dict[str, list[Any]]] = {}
    for row, person in signups:
        entry = {"row": row, **masked(person), "position": callups.waitlist_position(session, row)}
        by_shift.setdefault(row.shift_id, {}).setdefault(row.status, []).append(entry)
    codes = {
        s.id: qr_svg(callups.shift_code(secret, s), label=f"{s.place}班次签到二维码")
        for s in callups.shifts_of(session, callup.id)
    }
    audience = callup.audience or {}
    can_organise = callups.may_organise(session, staff().id, callup)
    return page("console/callups/detail.html", status, **fill_context(callup), by_shift=by_shift, codes=codes,
                can_organise=can_organise,
                audience=audience, grids=grid_names(), signup_labels=SIGNUP_LABELS, error=error,
                notice=notice or DONE.get(request.args.get("done", "")),
                team_names={t.id: t.name for t in teams.list_teams(session, callup.community_id)})  # fmt: skip


@bp.get("/callups/<int:callup_id>")
@signed_in
def callup_page(callup_id: int) -> Any:
    """One call-up: fill rate per shift (live), send progress, waitlist, check-in codes, no-shows."""
    staff_id = organiser_only()
    callup = callups.callup_for_staff(db_session(), callup_id, staff_id)
    body = _callup_page(callup)
    db_session().commit()
    return body


@bp.get("/callups/<int:callup_id>/fill")
@signed_in
def callup_fill(callup_id: int) -> Any:
    """The fill-rate fragment htmx polls every few seconds."""
    staff_id = organiser_only()
    callup = callups.callup_for_staff(db_session(), callup_id, staff_id)
    body = page("console/callups/_fill.html", **fill_context(callup))
    db_session().commit()
    return body


@bp.post("/callups/<int:callup_id>/send")
@signed_in
def send_callup(callup_id: int) -> Any:
    """Freeze the audience and queue the send (again: reaches nobody twice)."""
    staff_id = organiser_only()
    session = db_session()
    callups.callup_for_staff(session, callup_id, staff_id)
    try:
        total = send.start_send(session, callup_id, staff_id)
    except DomainError as e:
        status = form_status(e)
        session.rollback()
        body = _callup_page(callups.callup_for_staff(session, callup_id, staff_id), e.message, status)
        session.rollback()
        return body
    record("send_callup", "callup", callup_id, recipients=total)
    commit_and_enqueue(session)
    return redirect(url_for("console_pages.callup_page", callup_id=callup_id, done="queued"), code=303)


@bp.post("/callups/<int:callup_id>/close")
@signed_in
def close_callup(callup_id: int) -> Any:
    """Close sign-up early."""
    staff_id = organiser_only()
    session = db_session()
    callups.callup_for_staff(session, callup_id, staff_id)
    try:
        callups.close_callup(session, callup_id, staff_id)
    except DomainError as e:
        status = form_status(e)
        session.rollback()
        body = _callup_page(callups.callup_for_staff(session, callup_id, staff_id), e.message, status)
        session.rollback()
        return body
    record("close_callup", "callup", callup_id)
    session.commit()
    return redirect(url_for("console_pages.callup_page", callup_id=callup_id, done="closed"), code=303)


@bp.post("/callups/<int:callup_id>/checkin")
@signed_in
def checkin(callup_id: int) -> Any:
    """Check in a volunteer by the code on their phone (typed, or read by a scanner into the field)."""
    staff_id = organiser_only()
    session = db_session()
    callup = callups.callup_for_staff(session, callup_id, staff_id)
    try:
        row = callups.check_in(session, request.form.get("token", ""), staff_id,
                               secret=current_app.config["SECRET_KEY"])  # fmt: skip
        shift = session.get(CallupShift, row.shift_id)
        if shift is None or shift.callup_id != callup.id:
            raise DomainError("这个签到码不属于本倡议", code="other_callup")
    except DomainError as e:
        status = form_status(e) if e.status != 404 else 422
        session.rollback()
        body = _callup_page(callups.callup_for_staff(session, callup_id, staff_id), e.message, status)
        session.rollback()
        return body
    record("checkin_shift", "shift_signup", row.id)
    session.commit()
    member = staff()
    body = _callup_page(callup, notice=f"签到成功（报名 #{row.id}），记录人：{member.name}。")
    session.commit()
    return body
