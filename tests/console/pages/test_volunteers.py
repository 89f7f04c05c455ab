"""志愿者 pages: review applications in scope (approve with skills and team, decline with a required reason), the
volunteer list, teams with leader and members, posts with their holders and duty periods."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from infra import clock
from models import Resident
from models.audit import AuditEntry
from models.messages import OutboundMessage
from models.org import Community
from models.volunteer import TeamMember, VolunteerApplication, VolunteerSkill, VolunteerTeam
from services.volunteering import applications, teams
from tests.console.pages.conftest import csrf_of

_seq = iter(range(1, 10_000))


def person(session: Session, org: Any, name: str, grid: str = "G1", **fields: Any) -> Resident:
    """A resident of the demo community living in `grid`."""
    r = Resident(name=name, phone="13812345678", openid=f"o-vol-page-{next(_seq)}", subscribed=True,
                 community_id=org.community.id, grid_id=org.grids[grid].id, **fields)  # fmt: skip
    session.add(r)
    session.commit()
    return r


def _messages(session: Session) -> int:
    n = int(session.scalar(select(func.count()).select_from(OutboundMessage)) or 0)
    session.commit()
    return n


def test_a_grid_leader_reviews_only_their_grid(session: Session, browser_for: Any, org: Any) -> None:
    mine = applications.apply(session, person(session, org, "陈小明", "G1").id, skills=["急救"])
    theirs = applications.apply(session, person(session, org, "林大伟", "G2").id, skills=["电工"])
    session.commit()
    leader = browser_for("g1_leader")
    html = leader.get("/console/volunteers").get_data(as_text=True)
    assert f"application-{mine.id}" in html
    assert "陈**" in html
    assert "138****5678" in html
    assert f"application-{theirs.id}" not in html
    resp = leader.post(f"/console/volunteers/applications/{theirs.id}/approve",
                       data={"csrf_token": csrf_of(html), "skills": "电工"})  # fmt: skip
    assert resp.status_code == 403
    assert "网格员只能管理本网格的志愿服务" in resp.get_data(as_text=True)
    session.expire_all()
    assert session.get(VolunteerApplication, theirs.id).status == "pending"  # type: ignore[union-attr]
    assert browser_for("pc_lh").get("/console/volunteers").status_code == 403  # property staff organise nobody


def test_approve_sets_the_skills_and_team_and_tells_the_resident(
    session: Session, browser_for: Any, org: Any, run_jobs: Any, sandbox: Any
) -> None:
    r = person(session, org, "陈小明")
    row = applications.apply(session, r.id, skills=["急救"])
    team = teams.create_team(session, org.staff["community_staff"].id, community_id=org.community.id, name="先锋队")
    session.commit()
    desk = browser_for("community_staff")
    html = desk.get("/console/volunteers").get_data(as_text=True)
    assert "急救" in html
    assert "先锋队" in html
    form = {"csrf_token": csrf_of(html), "skills": "急救、电工， 摄影", "team_id": str(team.id)}
    resp = desk.post(f"/console/volunteers/applications/{row.id}/approve", data=form)
    assert resp.status_code == 303
    session.expire_all()
    assert session.get(Resident, r.id).is_volunteer  # type: ignore[union-attr]
    assert sorted(session.scalars(select(VolunteerSkill.skill).where(VolunteerSkill.resident_id == r.id))) == [
        "急救", "摄影", "电工",
    ]  # fmt: skip
    assert session.scalar(select(TeamMember.team_id).where(TeamMember.resident_id == r.id)) == team.id
    audited = select(AuditEntry.action).where(AuditEntry.object_type == "volunteer_application")
    assert list(session.scalars(audited)) == ["approve_volunteer"]
    session.commit()
    run_jobs()
    assert any("已通过" in str(s["body"]) for s in sandbox.sent(touser=r.openid))
    listed = desk.get("/console/volunteers?done=approved").get_data(as_text=True)
    assert "已通过申请" in listed
    assert "急救、电工、摄影" in listed  # the volunteer list shows their skills


def test_declining_needs_a_reason_in_chinese_and_saves_nothing_without_one(
    session: Session, browser_for: Any, org: Any, run_jobs: Any, sandbox: Any
) -> None:
    r = person(session, org, "李四")
    row = applications.apply(session, r.id, skills=[])
    session.commit()
    desk = browser_for("community_staff")
    html = desk.get("/console/volunteers").get_data(as_text=True)
    before = _messages(session)
    resp = desk.post(f"/console/volunteers/applications/{row.id}/decline", data={"csrf_token": csrf_of(html),
                                                                                 "reason": "   "})  # fmt: skip
    assert resp.status_code == 422
    assert "请填写不通过的原因" in resp.get_data(as_text=True)
    session.expire_all()
    assert session.get(VolunteerApplication, row.id).status == "pending"  # type: ignore[union-attr]
    assert _messages(session) == before  # nobody was told anything
    resp = desk.post(f"/console/volunteers/applications/{row.id}/decline",
                     data={"csrf_token": csrf_of(html), "reason": "本季度暂不招募"})  # fmt: skip
    assert resp.status_code == 303
    session.expire_all()
    assert session.get(VolunteerApplication, row.id).decline_reason == "本季度暂不招募"  # type: ignore[union-attr]
    session.commit()
    run_jobs()
    assert any("本季度暂不招募" in str(s["body"]) for s in sandbox.sent(touser=r.openid))


def test_forms_without_the_csrf_token_are_refused(session: Session, browser_for: Any, org: Any) -> None:
    row = applications.apply(session, person(session, org, "王五").id, skills=[])
    session.commit()
    desk = browser_for("community_staff")
    resp = desk.post(f"/console/volunteers/applications/{row.id}/approve", data={"skills": "急救"})
    assert resp.status_code == 400
    assert "CSRF" in resp.get_data(as_text=True)
    assert desk.post("/console/volunteers/teams", data={"name": "无令牌队"}).status_code == 400
    session.expire_all()
    assert session.get(VolunteerApplication, row.id).status == "pending"  # type: ignore[union-attr]
    assert session.scalar(select(VolunteerTeam.id).where(VolunteerTeam.name == "无令牌队")) is None


def test_teams_with_a_leader_and_members(session: Session, browser_for: Any, org: Any) -> None:
    a = person(session, org, "周志愿", is_volunteer=True)
    b = person(session, org, "吴志愿", is_volunteer=True)
    desk = browser_for("community_staff")
    html = desk.get("/console/volunteers/teams").get_data(as_text=True)
    empty = desk.post("/console/volunteers/teams", data={"csrf_token": csrf_of(html), "name": " "})
    assert empty.status_code == 422
    assert "队伍名称应为 1–100 个字" in empty.get_data(as_text=True)
    resp = desk.post("/console/volunteers/teams", data={"csrf_token": csrf_of(html), "name": "楼道志愿队",
                     "grid_id": str(org.grids["G1"].id), "leader_resident_id": str(a.id)})  # fmt: skip
    assert resp.status_code == 303
    team = session.scalar(select(VolunteerTeam).where(VolunteerTeam.name == "楼道志愿队"))
    assert team is not None
    assert team.leader_resident_id == a.id
    session.commit()
    page = desk.get(resp.headers["Location"]).get_data(as_text=True)
    assert "已建立志愿服务队" in page
    assert "队长" in page
    added = desk.post(f"/console/volunteers/teams/{team.id}/members",
                      data={"csrf_token": csrf_of(page), "resident_id": str(b.id)})  # fmt: skip
    assert added.status_code == 303
    assert teams.team_size(session, team.id) == 2
    session.commit()
    promoted = desk.post(f"/console/volunteers/teams/{team.id}/members",
                         data={"csrf_token": csrf_of(page), "resident_id": str(b.id), "leader": "1"})  # fmt: skip
    assert promoted.status_code == 303
    session.expire_all()
    assert session.get(VolunteerTeam, team.id).leader_resident_id == b.id  # type: ignore[union-attr]
    outsider = person(session, org, "赵居民")  # not a volunteer
    refused = desk.post(f"/console/volunteers/teams/{team.id}/members",
                        data={"csrf_token": csrf_of(page), "resident_id": str(outsider.id)})  # fmt: skip
    assert refused.status_code == 409
    assert "该居民还不是志愿者" in refused.get_data(as_text=True)


def test_another_communitys_team_is_refused_by_url(session: Session, browser_for: Any, org: Any) -> None:
    other = Community(code="C-OTHER", name="别的社区")
    session.add(other)
    session.flush()
    team = VolunteerTeam(community_id=other.id, name="别人的队伍")
    session.add(team)
    session.commit()
    resp = browser_for("g1_leader").get(f"/console/volunteers/teams/{team.id}")
    assert resp.status_code == 403
    assert "无权查看该志愿服务队" in resp.get_data(as_text=True)
    g2_team = teams.create_team(session, org.staff["g2_leader"].id, community_id=org.community.id, name="二网格队",
                                grid_id=org.grids["G2"].id)  # fmt: skip
    session.commit()
    assert browser_for("g1_leader").get(f"/console/volunteers/teams/{g2_team.id}").status_code == 403


def test_posts_with_holders_and_duty_periods(session: Session, browser_for: Any, org: Any) -> None:
    v = person(session, org, "郑志愿", is_volunteer=True)
    desk = browser_for("community_staff")
    html = desk.get("/console/volunteers/teams").get_data(as_text=True)
    bad = desk.post("/console/volunteers/posts", data={"csrf_token": csrf_of(html), "name": "楼道长", "holders": "0"})
    assert bad.status_code == 422
    assert "岗位人数应为 1–1000 的整数" in bad.get_data(as_text=True)
    resp = desk.post("/console/volunteers/posts", data={"csrf_token": csrf_of(html), "name": "楼道长",
                                                        "holders": "3", "duties": "每周巡查楼道"})  # fmt: skip
    assert resp.status_code == 303
    post_id = teams.list_posts(session, org.community.id)[0][0].id
    today = clock.local_now().date()
    teams.claim_post(session, post_id, v.id, starts_on=today, ends_on=today + timedelta(days=90))
    session.commit()
    listed = desk.get("/console/volunteers/teams").get_data(as_text=True)
    assert "3（2）" in listed  # three places, two free
    assert f"郑** {today} 至 {today + timedelta(days=90)}" in listed
