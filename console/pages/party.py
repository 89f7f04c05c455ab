"""党员: the 报到 verification queue (verify, or decline with a reason), verified members per grid branch (masked as
the staff API masks them), 联户 (link households; coverage per grid as a table and an SVG bar), the 先锋日志
review queue (points through the ledger) with totals per branch and month, 行动支部, tags, and the monthly awards.

Views read the form and call the same services as the staff API (`console/party.py`); the services check the role
and scope on every object.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask import redirect, request, url_for
from sqlalchemy import select

from console.pages.volunteers import community_id, form_id, form_status, grid_names, organiser_only
from console.pages.web import PageError, bp, page, record, signed_in, staff
from infra import clock, privacy
from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from models.org import Building, Estate
from models.party import PARTY_CATEGORIES, PartyMember
from models.points import TaskCategory
from models.resident import Resident
from services.errors import DomainError
from services.party import activity, awards, members

PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
TAG_TARGET_LABELS = {"party_member": "党员", "household": "联户住户", "post": "志愿岗位"}
DONE = {
    "verified": "已核实报到，党员将收到通知。",
    "rejected": "已退回报到，党员将收到原因。",
    "linked": "已联户。",
    "approved": "已通过日志，积分已记入积分账户。",
    "log_rejected": "已驳回日志。",
    "branch": "已成立行动支部。",
    "member": "已加入行动支部。",
    "progress": "已更新进度。",
    "closed": "行动支部已结束。",
    "tag": "已添加标签。",
    "assigned": "已贴上标签。",
    "computed": "已计算候选人，请勾选后发布。",
    "published": "已发布评选结果通知。",
}


def _done() -> str | None:
    return DONE.get(request.args.get("done", ""))


def _refused(render: Any, e: DomainError, **keys: Any) -> Any:
    """Roll back, and show the page again with the service's Chinese message (403/404 show the error page)."""
    status = form_status(e)
    session = db_session()
    session.rollback()
    body = render(error=e.message, status=status, **keys)
    session.rollback()
    return body


def _period() -> str:
    raw = request.values.get("period", "").strip()
    if not raw:
        return clock.local_now().strftime("%Y-%m")
    if not PERIOD.match(raw):
        raise PageError(400, "月份格式应为 2026-12。")
    return raw


def _verified_members() -> list[tuple[PartyMember, dict[str, str]]]:
    rows = members.verified_for_staff(db_session(), staff().id)
    return [(m, {"name": privacy.mask_name(r.name), "phone": privacy.mask_phone(r.phone)}) for m, r in rows]


# ---------------------------------------------------------------- 报到, branches, 联户


def _members_page(error: str = "", status: int = 200) -> Any:
    staff_id = organiser_only()
    session = db_session()
    queue = [
        {"m": m, "name": privacy.mask_name(r.name), "phone": privacy.mask_phone(r.phone),
         "organisation": privacy.mask_organisation(m.organisation)}
        for m, r in members.pending(session, staff_id)
    ]  # fmt: skip
    grids = grid_names()
    me = staff()
    shown = [g for g in grids if me.role not in ("grid_worker", "grid_leader") or g == me.grid_id]
    branches = {g: members.branch_for_staff(session, staff_id, g) for g in shown}
    coverage = members.coverage(session, community_id())
    buildings = session.execute(
        select(Building, Estate).join(Estate, Estate.id == Building.estate_id)
        .where(Estate.community_id == community_id()).order_by(Building.id)
    ).all()  # fmt: skip
    return page("console/party/members.html", status, queue=queue, branches=branches, grids=grids,
                coverage=coverage, buildings=buildings, verified=_verified_members(), error=error,
                categories=PARTY_CATEGORIES, done=_done(), form=request.form)  # fmt: skip


@bp.get("/party")
@signed_in
def party_page() -> Any:
    """党员报到 queue, members per grid branch, 联户 and coverage."""
    body = _members_page()
    db_session().commit()
    return body


@bp.post("/party/members/<int:member_id>/verify")
@signed_in
def verify_member(member_id: int) -> Any:
    """Verify a registration, or decline it with the reason the member is told."""
    staff_id = organiser_only()
    accept = request.form.get("accept") == "1"
    session = db_session()
    try:
        row = members.verify(session, member_id, staff_id, accept=accept, reason=request.form.get("reason", ""))
    except DomainError as e:
        return _refused(lambda **k: _members_page(k["error"], k["status"]), e)
    record("verify_party_member" if accept else "reject_party_member", "party_member", row.id,
           reason=request.form.get("reason", "").strip()[:300])  # fmt: skip
    commit_and_enqueue(session)
    return redirect(url_for("console_pages.party_page", done="verified" if accept else "rejected"), code=303)


@bp.post("/party/households")
@signed_in
def link_household() -> Any:
    """Link a verified member to a household (building and room) of their grid."""
    staff_id = organiser_only()
    session = db_session()
    member_id, building_id = form_id("member_id"), form_id("building_id")
    try:
        if member_id is None or building_id is None:
            raise DomainError("请选择党员和楼栋", code="fields_required")
        link = members.link_household(session, staff_id, member_id, building_id, request.form.get("room", ""))
    except DomainError as e:
        return _refused(lambda **k: _members_page(k["error"], k["status"]), e)
    record("link_household", "party_household", link.id, member_id=member_id, building_id=building_id)
    session.commit()
    return redirect(url_for("console_pages.party_page", done="linked"), code=303)


# ---------------------------------------------------------------- 先锋日志


def _logs_page(error: str = "", status: int = 200) -> Any:
    staff_id = organiser_only()
    session = db_session()
    period = _period()
    entries = activity.pending_logs(session, staff_id)
    people = {
        r.id: privacy.mask_name(r.name)
        for r in session.scalars(select(Resident).where(Resident.id.in_({e.resident_id for e in entries})))
    }
    categories = {c.id: c.name for c in session.scalars(select(TaskCategory))}
    totals = activity.branch_month_totals(session, community_id(), period)
    return page("console/party/logs.html", status, entries=entries, people=people, categories=categories,
                totals=totals, period=period, grids=grid_names(), error=error, done=_done())  # fmt: skip


@bp.get("/party/logs")
@signed_in
def logs_page() -> Any:
    """先锋日志 waiting for review, and approved entries and points per branch for a month."""
    body = _logs_page()
    db_session().commit()
    return body


@bp.post("/party/logs/<int:log_id>/review")
@signed_in
def review_log(log_id: int) -> Any:
    """Approve (points credited once through the ledger) or reject with a note."""
    staff_id = organiser_only()
    approve = request.form.get("approve") == "1"
    session = db_session()
    try:
        entry = activity.review_log(session, log_id, staff_id, approve=approve, note=request.form.get("note", ""))
    except DomainError as e:
        return _refused(lambda **k: _logs_page(k["error"], k["status"]), e)
    record("review_pioneer_log", "pioneer_log", entry.id, approve=approve)
    session.commit()
    return redirect(url_for("console_pages.logs_page", done="approved" if approve else "log_rejected"), code=303)


# ---------------------------------------------------------------- 行动支部 and tags


def _action_page(error: str = "", status: int = 200) -> Any:
    staff_id = organiser_only()
    session = db_session()
    verified = _verified_members()
    names = {m.id: who["name"] for m, who in verified}
    branches = [
        {"b": b, "members": [names.get(m.id, "—") for m in activity.branch_members(session, b.id)]}
        for b in activity.branches_for_staff(session, staff_id)
    ]
    return page("console/party/action.html", status, branches=branches, verified=verified, grids=grid_names(),
                tags=activity.list_tags(session, community_id()), targets=TAG_TARGET_LABELS, error=error,
                done=_done(), form=request.form, today=clock.local_now().date())  # fmt: skip


@bp.get("/party/action")
@signed_in
def action_page() -> Any:
    """行动支部 (goal, period, members, progress, result) and the community's tags."""
    body = _action_page()
    db_session().commit()
    return body


def _date(name: str, label: str) -> date:
    try:
        return date.fromisoformat(request.form.get(name, "").strip())
    except ValueError as exc:
        raise DomainError(f"{label}格式应为 2026-12-08", code="bad_date") from exc


def _action_refused(e: DomainError) -> Any:
    return _refused(lambda **k: _action_page(k["error"], k["status"]), e)


@bp.post("/party/action-branches")
@signed_in
def create_branch() -> Any:
    """Form a 行动支部 for a task with a goal, a period and members."""
    staff_id = organiser_only()
    session = db_session()
    try:
        ids = [int(v) for v in request.form.getlist("member_ids")[:500] if v.isdigit() and 0 < int(v) < 2**31]
        branch = activity.create_branch(session, staff_id, community_id=community_id(),
                                        name=request.form.get("name", ""), goal=request.form.get("goal", ""),
                                        starts_on=_date("starts_on", "开始日期"), ends_on=_date("ends_on", "结束日期"),
                                        grid_id=form_id("grid_id"), member_ids=ids)  # fmt: skip
    except DomainError as e:
        return _action_refused(e)
    record("create_action_branch", "action_branch", branch.id, name=branch.name)
    session.commit()
    return redirect(url_for("console_pages.action_page", done="branch"), code=303)


@bp.post("/party/action-branches/<int:branch_id>/members")
@signed_in
def add_branch_member(branch_id: int) -> Any:
    """Add a verified member to an action branch."""
    staff_id = organiser_only()
    session = db_session()
    try:
        member_id = form_id("member_id")
        if member_id is None:
            raise DomainError("请选择一位党员", code="member_required")
        activity.add_branch_member(session, staff_id, branch_id, member_id)
    except DomainError as e:
        return _action_refused(e)
    record("add_action_branch_member", "action_branch", branch_id, member_id=member_id)
    session.commit()
    return redirect(url_for("console_pages.action_page", done="member"), code=303)


@bp.post("/party/action-branches/<int:branch_id>/progress")
@signed_in
def branch_progress(branch_id: int) -> Any:
    """Record an action branch's progress (percent) with a note."""
    staff_id = organiser_only()
    session = db_session()
    raw = request.form.get("progress", "").strip()
    try:
        if not raw.isdigit():
            raise DomainError("进度须在 0 到 100 之间", code="bad_progress")
        activity.report_progress(session, staff_id, branch_id, int(raw), request.form.get("note", ""))
    except DomainError as e:
        return _action_refused(e)
    record("action_branch_progress", "action_branch", branch_id, progress=int(raw))
    session.commit()
    return redirect(url_for("console_pages.action_page", done="progress"), code=303)


@bp.post("/party/action-branches/<int:branch_id>/close")
@signed_in
def close_branch(branch_id: int) -> Any:
    """Close an action branch with its result."""
    staff_id = organiser_only()
    session = db_session()
    try:
        activity.close_branch(session, staff_id, branch_id, request.form.get("result", ""))
    except DomainError as e:
        return _action_refused(e)
    record("close_action_branch", "action_branch", branch_id)
    session.commit()
    return redirect(url_for("console_pages.action_page", done="closed"), code=303)


@bp.post("/party/tags")
@signed_in
def define_tag() -> Any:
    """Define a tag of the community (党员示范户, 先锋岗 …)."""
    staff_id = organiser_only()
    session = db_session()
    try:
        tag = activity.define_tag(session, staff_id, community_id(), request.form.get("name", ""),
                                  request.form.get("applies_to", ""))  # fmt: skip
    except DomainError as e:
        return _action_refused(e)
    record("define_tag", "community_tag", tag.id, name=tag.name)
    session.commit()
    return redirect(url_for("console_pages.action_page", done="tag"), code=303)


@bp.post("/party/tags/<int:tag_id>/assign")
@signed_in
def assign_tag(tag_id: int) -> Any:
    """Give a tag to a member, household or post (by its number)."""
    staff_id = organiser_only()
    session = db_session()
    try:
        target_id = form_id("target_id")
        if target_id is None:
            raise DomainError("请选择或填写标签对象", code="target_required")
        activity.assign_tag(session, staff_id, tag_id, target_id)
    except DomainError as e:
        if e.status == 404 and e.message == "标签对象不存在":
            e.status = 422  # the number typed names nothing: a form mistake
        return _action_refused(e)
    record("assign_tag", "community_tag", tag_id, target_id=target_id)
    session.commit()
    return redirect(url_for("console_pages.action_page", done="assigned"), code=303)


# ---------------------------------------------------------------- monthly awards


def _awards_page(error: str = "", status: int = 200) -> Any:
    organiser_only()
    session = db_session()
    period = _period()
    award, candidates = awards.round_of(session, community_id(), period)
    return page("console/party/awards.html", status, period=period, award=award,
                candidates=[awards.candidate_view(session, c) for c in candidates], error=error,
                done=_done())  # fmt: skip


@bp.get("/party/awards")
@signed_in
def awards_page() -> Any:
    """每月评优: a month's candidates from the ledger and the 先锋日志, approved and published by staff."""
    body = _awards_page()
    db_session().commit()
    return body


@bp.post("/party/awards/compute")
@signed_in
def compute_awards() -> Any:
    """Compute (or recompute) the month's candidates."""
    staff_id = organiser_only()
    session = db_session()
    period = _period()
    try:
        awards.compute_candidates(session, staff_id, community_id(), period)
    except DomainError as e:
        return _refused(lambda **k: _awards_page(k["error"], k["status"]), e)
    record("compute_awards", "award_round", period)
    session.commit()
    return redirect(url_for("console_pages.awards_page", period=period, done="computed"), code=303)


@bp.post("/party/awards/<int:round_id>/publish")
@signed_in
def publish_awards(round_id: int) -> Any:
    """Approve the ticked candidates and publish the round as a community notice."""
    staff_id = organiser_only()
    session = db_session()
    ids = [int(v) for v in request.form.getlist("candidate_ids")[:100] if v.isdigit() and 0 < int(v) < 2**31]
    try:
        notice = awards.approve_and_publish(session, staff_id, round_id, ids)
    except DomainError as e:
        return _refused(lambda **k: _awards_page(k["error"], k["status"]), e)
    record("publish_awards", "award_round", round_id, notice_id=notice.id, candidates=ids)
    commit_and_enqueue(session)
    return redirect(url_for("console_pages.awards_page", period=_period(), done="published"), code=303)
