"""Chat commands for volunteers: 我的积分 (balance and monthly rank) and 我的任务 (posts and shifts)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from models import Resident
from services.points import ledger as points
from services.volunteering import callups, teams
from services.volunteering.callups import ShiftSpec


def _me(wx, session, org) -> Resident:
    wx.say("帮助")  # the first message creates the resident
    resident = session.scalar(select(Resident).where(Resident.openid == wx.fake.openid))
    resident.community_id, resident.grid_id = org.community.id, org.grids["G1"].id
    session.commit()
    return resident


def test_my_tasks_lists_posts_and_upcoming_shifts(wx, org, session, clock):
    me = _me(wx, session, org)
    assert "还不是志愿者" in wx.say("我的任务")
    me.is_volunteer = True
    session.commit()
    assert "没有认领的岗位" in wx.say("我的任务")
    staff = org.staff["community_staff"].id
    post = teams.create_post(session, staff, community_id=org.community.id, name="垃圾分类督导")
    today = clock.local_now().date()
    teams.claim_post(session, post.id, me.id, starts_on=today, ends_on=today + timedelta(days=30))
    start = clock.now() + timedelta(days=2)
    c = callups.create_callup(
        session, staff, community_id=org.community.id, title="周末敲门行动", audience={"volunteers": True},
        shifts=[ShiftSpec("3幢", start, start + timedelta(hours=2), 5)], signup_closes_at=start,
    )  # fmt: skip
    callups.sign_up(session, callups.shifts_of(session, c.id)[0].id, me.id)
    session.commit()
    answer = wx.say("我的任务")
    assert "岗位｜垃圾分类督导" in answer
    assert "周末敲门行动" in answer
    assert "已报名" in answer


def test_my_points_tells_the_monthly_rank(wx, org, session, clock):
    me = _me(wx, session, org)
    points.post(session, me.id, 12, kind="earn", source_type="manual", source_id=None, idempotency_key="t-1")
    session.commit()
    answer = wx.say("我的积分")
    assert "12 分" in answer
    assert "排名第 1 名" in answer
