"""志愿者: review applications (approve with skills and team, decline with a reason), the volunteer list, and
队伍与岗位 (teams with their leader and members, posts with their holders and duty periods).

Views only read the form and call the same services as the staff API (`console/volunteers.py`); the services
check the role and scope on every object (grid staff in their grid, community staff in their community).
"""

from __future__ import annotations

import re
from typing import Any

from flask import redirect, request, url_for
from sqlalchemy import select

from console.pages.web import PageError, bp, page, record, signed_in, staff
from infra import privacy
from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from models.org import Grid
from models.resident import Resident
from models.volunteer import VolunteerTeam
from services.errors import DomainError
from services.organisation.organisers import ORGANISER_ROLES
from services.volunteering import applications, teams

SKILL_SPLIT = re.compile(r"[,，、;；\s]+")
DONE = {
    "approved": "已通过申请，居民将收到通知。",
    "declined": "已退回申请，居民将收到原因。",
    "team": "已建立志愿服务队。",
    "member": "已加入队伍。",
    "leader": "已设为队长。",
    "post": "已设立岗位。",
}


def organiser_only() -> int:
    """The signed-in staff member's id, if their role organises volunteers (403 otherwise)."""
    member = staff()
    if member.role not in ORGANISER_ROLES:
        raise PageError(403, "只有社区和网格工作人员可以管理志愿者。")
    return member.id


def community_id() -> int:
    """The signed-in organiser's community (staff without one cannot organise from the pages)."""
    member = staff()
    if member.community_id is None:
        raise PageError(403, "请以社区工作人员身份登录。")
    return int(member.community_id)


def form_id(name: str) -> int | None:
    """A positive id from the form, None when the field is empty; 400 on anything else."""
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise PageError(400, "表单中的编号无效。")
    return int(raw)


def form_status(e: DomainError) -> int:
    """The status a refused form comes back with: 422 for what the person typed, 409 for a state conflict.

    A refusal of scope (403) or a missing object (404) is not a form mistake: it shows the Chinese error page."""
    if e.status in (403, 404):
        raise e
    return e.status if e.status >= 409 else 422


def grid_names() -> dict[int, str]:
    """Names of the grids of the signed-in staff member's community."""
    session = db_session()
    return {g.id: g.name for g in session.scalars(select(Grid).where(Grid.community_id == community_id()))}


def _people(ids: set[int]) -> dict[int, Resident]:
    if not ids:
        return {}
    return {r.id: r for r in db_session().scalars(select(Resident).where(Resident.id.in_(ids)))}


def masked(person: Resident | None) -> dict[str, str]:
    """A resident's name and phone as the staff API shows them."""
    return {
        "name": privacy.mask_name(person.name if person else ""),
        "phone": privacy.mask_phone(person.phone if person else ""),
    }


def _review_page(errors: dict[int, str] | None = None, status: int = 200) -> Any:
    staff_id = organiser_only()
    session = db_session()
    queue = applications.queue(session, staff_id)
    people = _people({a.resident_id for a in queue})
    team_rows = teams.list_teams(session, community_id())
    volunteers = [
        {**masked(person), "skills": skills, "grid_id": person.grid_id}
        for person, skills in applications.volunteers(session, staff_id)
    ]
    rows = [{"a": a, **masked(people.get(a.resident_id))} for a in queue]
    return page("console/volunteers/index.html", status, rows=rows, volunteers=volunteers, teams=team_rows,
                grids=grid_names(), errors=errors or {}, form=request.form,
                done=DONE.get(request.args.get("done", "")))  # fmt: skip


@bp.get("/volunteers")
@signed_in
def volunteers_page() -> Any:
    """志愿者审核: pending applications of my scope, and the volunteers."""
    body = _review_page()
    db_session().commit()
    return body


@bp.post("/volunteers/applications/<int:application_id>/approve")
@signed_in
def approve_application(application_id: int) -> Any:
    """Approve with the skills and team the reviewer settled on; the resident is told through the outbox."""
    staff_id = organiser_only()
    skills = [s for s in SKILL_SPLIT.split(request.form.get("skills", "")) if s]
    session = db_session()
    try:
        row = applications.approve(session, application_id, staff_id, skills=skills, team_id=form_id("team_id"))
    except DomainError as e:
        status = form_status(e)
        session.rollback()
        body = _review_page({application_id: e.message}, status)
        session.rollback()
        return body
    record("approve_volunteer", "volunteer_application", row.id, skills=row.skills, team_id=row.preferred_team_id)
    commit_and_enqueue(session)
    return redirect(url_for("console_pages.volunteers_page", done="approved"), code=303)


@bp.post("/volunteers/applications/<int:application_id>/decline")
@signed_in
def decline_application(application_id: int) -> Any:
    """Decline with the reason the resident is told; without a reason nothing is saved and the form says why."""
    staff_id = organiser_only()
    session = db_session()
    try:
        row = applications.decline(session, application_id, staff_id, request.form.get("reason", ""))
    except DomainError as e:
        status = form_status(e)
        session.rollback()
        body = _review_page({application_id: e.message}, status)
        session.rollback()
        return body
    record("decline_volunteer", "volunteer_application", row.id, reason=row.decline_reason)
    commit_and_enqueue(session)
    return redirect(url_for("console_pages.volunteers_page", done="declined"), code=303)


# ---------------------------------------------------------------- teams and posts


def _teams_page(errors: dict[str, str] | None = None, status: int = 200) -> Any:
    staff_id = organiser_only()
    session = db_session()
    community = community_id()
    team_rows = [(t, teams.team_size(session, t.id)) for t in teams.list_teams(session, community)]
    posts = [
        {"post": post, "free": free, "claims": [(c, masked(r)) for c, r in teams.claims_of(session, post.id)]}
        for post, free in teams.list_posts(session, community)
    ]
    volunteers = [(p, masked(p)) for p, _ in applications.volunteers(session, staff_id)]
    return page("console/volunteers/teams.html", status, teams=team_rows, posts=posts, volunteers=volunteers,
                team_names={t.id: t.name for t, _ in team_rows}, grids=grid_names(), errors=errors or {},
                form=request.form, done=DONE.get(request.args.get("done", "")))  # fmt: skip


@bp.get("/volunteers/teams")
@signed_in
def teams_page() -> Any:
    """队伍与岗位: my community's teams and posts, with the forms to add them."""
    body = _teams_page()
    db_session().commit()
    return body


def _form_error(field: str, e: DomainError) -> Any:
    status = form_status(e)
    session = db_session()
    session.rollback()
    body = _teams_page({field: e.message}, status)
    session.rollback()
    return body


def _length(field: str, label: str, low: int, high: int) -> str:
    value = request.form.get(field, "").strip()
    if not low <= len(value) <= high:
        raise DomainError(f"{label}应为 {low}–{high} 个字", code="bad_length")
    return value


@bp.post("/volunteers/teams")
@signed_in
def create_team() -> Any:
    """Form a team of my community (or of one grid), optionally with its leader."""
    staff_id = organiser_only()
    session = db_session()
    try:
        name = _length("name", "队伍名称", 1, 100)
        team = teams.create_team(session, staff_id, community_id=community_id(), name=name,
                                 grid_id=form_id("grid_id"), leader_resident_id=form_id("leader_resident_id"),
                                 description=request.form.get("description", "").strip()[:500])  # fmt: skip
    except DomainError as e:
        return _form_error("team", e)
    record("create_team", "volunteer_team", team.id, name=team.name)
    session.commit()
    return redirect(url_for("console_pages.team_page", team_id=team.id, done="team"), code=303)


def _team_page(team: VolunteerTeam, error: str = "", status: int = 200) -> Any:
    staff_id = organiser_only()
    session = db_session()
    members = [(m, masked(r)) for m, r in teams.members_of(session, team.id)]
    joined = {m.resident_id for m, _ in members}
    candidates = [
        (p, masked(p))
        for p, _ in applications.volunteers(session, staff_id)
        if p.id not in joined and (team.grid_id is None or p.grid_id == team.grid_id)
    ]
    return page("console/volunteers/team.html", status, team=team, members=members, candidates=candidates,
                grids=grid_names(), error=error, done=DONE.get(request.args.get("done", "")))  # fmt: skip


@bp.get("/volunteers/teams/<int:team_id>")
@signed_in
def team_page(team_id: int) -> Any:
    """One team: its leader and members, and the form to add a volunteer."""
    staff_id = organiser_only()
    team = teams.team_for_staff(db_session(), team_id, staff_id)
    body = _team_page(team)
    db_session().commit()
    return body


@bp.post("/volunteers/teams/<int:team_id>/members")
@signed_in
def add_team_member(team_id: int) -> Any:
    """Add a volunteer to the team, or make them its leader."""
    staff_id = organiser_only()
    session = db_session()
    team = teams.team_for_staff(session, team_id, staff_id)
    resident_id = form_id("resident_id")
    leader = request.form.get("leader") == "1"
    try:
        if resident_id is None:
            raise DomainError("请选择一位志愿者", code="resident_required")
        if leader:
            teams.set_leader(session, staff_id, team_id, resident_id)
        else:
            teams.add_member(session, staff_id, team_id, resident_id)
    except DomainError as e:
        status = form_status(e)
        session.rollback()
        body = _team_page(teams.team_for_staff(session, team_id, staff_id), e.message, status)
        session.rollback()
        return body
    record("add_team_member", "volunteer_team", team.id, resident_id=resident_id, leader=leader)
    session.commit()
    return redirect(url_for("console_pages.team_page", team_id=team_id, done="leader" if leader else "member"),
                    code=303)  # fmt: skip


@bp.post("/volunteers/posts")
@signed_in
def create_post() -> Any:
    """Open a post (岗位) of my community that volunteers claim for a duty period."""
    staff_id = organiser_only()
    session = db_session()
    try:
        name = _length("name", "岗位名称", 1, 100)
        raw = request.form.get("holders", "").strip()
        if not raw.isdigit() or not 1 <= int(raw) <= 1000:
            raise DomainError("岗位人数应为 1–1000 的整数", code="holders_positive")
        post = teams.create_post(session, staff_id, community_id=community_id(), name=name,
                                 duties=request.form.get("duties", "").strip()[:500], holders=int(raw),
                                 grid_id=form_id("grid_id"), team_id=form_id("team_id"))  # fmt: skip
    except DomainError as e:
        return _form_error("post", e)
    record("create_post", "volunteer_post", post.id, name=post.name, holders=post.holders)
    session.commit()
    return redirect(url_for("console_pages.teams_page", done="post"), code=303)
