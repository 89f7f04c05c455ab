"""Becoming a volunteer; teams with leaders; posts claimed for a duty period."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from models import Resident
from models.outbox import PendingJob
from models.volunteer import TeamMember
from services.errors import Conflict, DomainError, Forbidden, InvalidTransition
from services.notifications import notify
from services.volunteering import applications, teams


def resident(session: Any, org: Any, name: str = "陈居民", grid: str = "G1", volunteer: bool = False) -> Resident:
    r = Resident(
        name=name, openid=f"o-{name}", community_id=org.community.id, grid_id=org.grids[grid].id,
        is_volunteer=volunteer, subscribed=True,
    )  # fmt: skip
    session.add(r)
    session.flush()
    return r


def _resident_jobs(session: Any, resident_id: int) -> list[PendingJob]:
    rows = session.scalars(select(PendingJob).where(PendingJob.func == notify.RESIDENT_JOB)).all()
    return [row for row in rows if row.args[0] == resident_id]


def test_approval_makes_a_volunteer_with_skills_and_team_and_tells_them(session, org, clock):
    staff = org.staff["community_staff"].id
    team = teams.create_team(session, staff, community_id=org.community.id, name="金鸡湖红管家志愿服务队")
    r = resident(session, org)
    app_row = applications.apply(
        session, r.id, skills=["急救", " 电工 ", "急救"], availability="周末", preferred_team_id=team.id
    )
    assert (app_row.status, app_row.skills) == ("pending", ["急救", "电工"])
    with pytest.raises(Conflict, match="正在审核"):
        applications.apply(session, r.id, skills=[])
    assert [a.id for a in applications.queue(session, staff)] == [app_row.id]

    applications.approve(session, app_row.id, staff)

    assert session.get(Resident, r.id).is_volunteer is True
    assert applications.skills_of(session, r.id) == ["急救", "电工"]
    assert [(t.id, role) for t, role in teams.teams_of(session, r.id)] == [(team.id, "member")]
    jobs = _resident_jobs(session, r.id)
    assert len(jobs) == 1
    assert "已通过" in jobs[0].args[1]
    with pytest.raises(InvalidTransition):
        applications.decline(session, app_row.id, staff, "重复")
    with pytest.raises(Conflict, match="已经是志愿者"):
        applications.apply(session, r.id, skills=[])


def test_decline_needs_a_reason_and_the_resident_is_told_it(session, org, clock):
    staff = org.staff["community_staff"].id
    r = resident(session, org)
    row = applications.apply(session, r.id, skills=["摄影"])
    with pytest.raises(DomainError, match="原因"):
        applications.decline(session, row.id, staff, "  ")
    applications.decline(session, row.id, staff, "服务区域暂不需要摄影志愿者")
    session.commit()

    assert session.get(Resident, r.id).is_volunteer is False
    assert applications.latest_of(session, r.id).decline_reason == "服务区域暂不需要摄影志愿者"
    jobs = _resident_jobs(session, r.id)
    assert len(jobs) == 1
    assert "服务区域暂不需要摄影志愿者" in jobs[0].args[1]
    # A declined resident may apply again.
    assert applications.apply(session, r.id, skills=[]).status == "pending"


def test_grid_staff_review_only_their_grid(session, org, clock):
    g1_resident = resident(session, org, "一格", "G1")
    g2_resident = resident(session, org, "二格", "G2")
    a1 = applications.apply(session, g1_resident.id, skills=[])
    a2 = applications.apply(session, g2_resident.id, skills=[])
    leader = org.staff["g1_leader"].id
    assert [a.id for a in applications.queue(session, leader)] == [a1.id]
    with pytest.raises(Forbidden):
        applications.approve(session, a2.id, leader)
    applications.approve(session, a1.id, leader)


def test_team_leader_and_members(session, org, clock):
    staff = org.staff["community_staff"].id
    lead = resident(session, org, "队长", volunteer=True)
    other = resident(session, org, "队员", volunteer=True)
    not_yet = resident(session, org, "居民")
    team = teams.create_team(
        session, staff, community_id=org.community.id, grid_id=org.grids["G1"].id, name="一网格服务队",
        leader_resident_id=lead.id,
    )  # fmt: skip
    teams.add_member(session, staff, team.id, other.id)
    with pytest.raises(Conflict, match="还不是志愿者"):
        teams.add_member(session, staff, team.id, not_yet.id)
    teams.set_leader(session, staff, team.id, other.id)
    roles = dict(
        session.execute(select(TeamMember.resident_id, TeamMember.role).where(TeamMember.team_id == team.id)).all()
    )
    assert roles == {lead.id: "member", other.id: "leader"}
    assert team.leader_resident_id == other.id
    assert teams.team_size(session, team.id) == 2


def test_posts_are_claimed_for_a_duty_period_up_to_their_holders(session, org, clock):
    staff = org.staff["community_staff"].id
    post = teams.create_post(session, staff, community_id=org.community.id, name="楼道长", holders=2)
    a, b, c = (resident(session, org, n, volunteer=True) for n in "甲乙丙")
    today = clock.local_now().date()
    end = today + timedelta(days=90)
    first = teams.claim_post(session, post.id, a.id, starts_on=today, ends_on=end)
    teams.claim_post(session, post.id, b.id, starts_on=today, ends_on=end)
    with pytest.raises(Conflict, match="已满员"):
        teams.claim_post(session, post.id, c.id, starts_on=today, ends_on=end)
    with pytest.raises(DomainError, match="不能早于"):
        teams.claim_post(session, post.id, c.id, starts_on=end, ends_on=today)
    assert [(p.id, free) for p, free in teams.list_posts(session, org.community.id)] == [(post.id, 0)]
    assert [p.name for _, p in teams.posts_of(session, a.id)] == ["楼道长"]
    teams.release_post(session, first.id, a.id)
    assert teams.posts_of(session, a.id) == []
    assert teams.claim_post(session, post.id, c.id, starts_on=today, ends_on=date(today.year + 1, 1, 1)).seat == 1
