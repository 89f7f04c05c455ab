"""倡议 pages: compose with its errors in Chinese, send through the outbox (queued, then delivered as WeChat
reports), the fill rate per shift and its polled fragment, waitlist, the shift's check-in QR, staff check-in of a
volunteer's code, no-shows, and scope by URL."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.callup import Callup, ShiftSignup
from models.org import Community
from services.points import ledger as points
from services.volunteering import callups
from tests.console.pages.conftest import csrf_of
from tests.console.pages.test_volunteers import person

# The suite's clock stands at 2026-11-20 10:00 in Beijing.
SHIFT = {"shift_place": "南门核酸点", "shift_starts": "2026-11-21 09:00", "shift_ends": "2026-11-21 11:00",
         "shift_quota": "2"}  # fmt: skip


def compose(desk: Any, **fields: Any) -> Any:
    """Post the compose form with one shift (fields override), as the page sends it."""
    html = desk.get("/console/callups/new").get_data(as_text=True)
    data = {"csrf_token": csrf_of(html), "title": "周末核酸点值守", "volunteers": "1", "closes": "2026-11-21 08:00",
            "points": "6", "waitlist": "5", **SHIFT, **fields}  # fmt: skip
    return desk.post("/console/callups", data=data)


def test_compose_explains_its_mistakes_and_saves_nothing(session: Session, browser_for: Any, clock: Any) -> None:
    desk = browser_for("community_staff")
    resp = compose(desk, title="", shift_ends="2026-11-21 08:00", closes="明天", volunteers="")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "标题应为 2–100 个字" in html
    assert "第 1 个班次：结束时间必须晚于开始时间" in html
    assert "请填写报名截止时间" in html
    assert "倡议对象至少选择志愿者或党员之一" in html
    assert 'value="南门核酸点"' in html  # what was typed stays in the form
    late = compose(desk, closes="2026-11-20 09:00")  # the window would close before it opens
    assert late.status_code == 422
    assert "报名截止时间必须晚于开始时间" in late.get_data(as_text=True)
    assert session.scalar(select(Callup.id)) is None


def test_a_callup_is_composed_queued_sent_and_filled(
    session: Session, browser_for: Any, org: Any, clock: Any, run_jobs: Any, sandbox: Any
) -> None:
    people = [person(session, org, f"志愿者{i}", is_volunteer=True) for i in range(3)]
    desk = browser_for("community_staff")
    resp = compose(desk)
    assert resp.status_code == 303, resp.get_data(as_text=True)
    callup = session.scalar(select(Callup))
    assert callup is not None
    assert callup.signup_closes_at.hour == 0  # 08:00 in Beijing is midnight UTC
    session.commit()
    page = desk.get(resp.headers["Location"]).get_data(as_text=True)
    assert "尚未发送" in page
    sent = desk.post(f"/console/callups/{callup.id}/send", data={"csrf_token": csrf_of(page)})
    assert sent.status_code == 303
    queued = desk.get(sent.headers["Location"]).get_data(as_text=True)
    assert "已交给发送队列" in queued
    assert "微信已确认送达 0 人" in queued  # nothing claimed sent before the worker sent it
    run_jobs()
    after = desk.get(f"/console/callups/{callup.id}/fill").get_data(as_text=True)
    assert "共 3 人，已交给发送队列 3 人，微信已确认送达 3 人" in after
    assert sorted(s["touser"] for s in sandbox.sent()) == sorted(p.openid for p in people)
    again = desk.post(f"/console/callups/{callup.id}/send", data={"csrf_token": csrf_of(page)})
    assert again.status_code == 303
    run_jobs()
    assert len(sandbox.sent()) == 3  # sending again reaches nobody twice

    shift = callups.shifts_of(session, callup.id)[0]
    for p in people:
        callups.sign_up(session, shift.id, p.id)
    session.commit()
    fragment = desk.get(f"/console/callups/{callup.id}/fill").get_data(as_text=True)
    assert 'hx-trigger="every 3s"' in fragment
    assert re.search(rf'id="fill-{shift.id}">2/2<', fragment)
    detail = desk.get(f"/console/callups/{callup.id}").get_data(as_text=True)
    assert "候补名单（1）" in detail
    assert "（第 1 位）" in detail
    listed = desk.get("/console/callups").get_data(as_text=True)
    assert "2 / 2" in listed


def test_check_in_by_the_shift_qr_and_by_the_volunteers_code_then_no_shows(
    session: Session, browser_for: Any, org: Any, clock: Any, client: Any, app: Any
) -> None:
    from tests.miniapp_api.conftest import make_login

    a, b, c = (person(session, org, f"签到{i}", is_volunteer=True, miniapp_openid=f"omini-desk-{i}") for i in range(3))
    desk = browser_for("community_staff")
    assert compose(desk, shift_quota="3").status_code == 303
    callup = session.scalar(select(Callup))
    assert callup is not None
    shift = callups.shifts_of(session, callup.id)[0]
    rows = {r.id: callups.sign_up(session, shift.id, r.id) for r in (a, b, c)}
    session.commit()
    page = desk.get(f"/console/callups/{callup.id}").get_data(as_text=True)
    assert 'aria-label="南门核酸点班次签到二维码"' in page  # the shift's QR, drawn as SVG
    clock.advance(timedelta(hours=22, minutes=50))  # ten minutes before the shift
    secret = app.config["SECRET_KEY"]
    scanned = client.post("/api/v1/callups/checkin", json={"token": callups.shift_code(secret, shift)},
                          headers=make_login(app)(a))  # fmt: skip
    assert scanned.status_code == 200, scanned.get_json()
    assert scanned.get_json()["status"] == "attended"
    assert points.balance_of(session, a.id) == 6
    session.commit()
    code = callups.qr_for(secret, rows[b.id])
    desk = browser_for("community_staff")  # the morning's session has expired overnight
    page = desk.get(f"/console/callups/{callup.id}").get_data(as_text=True)
    by_staff = desk.post(f"/console/callups/{callup.id}/checkin", data={"csrf_token": csrf_of(page), "token": code})
    assert by_staff.status_code == 200
    assert "签到成功" in by_staff.get_data(as_text=True)
    twice = desk.post(f"/console/callups/{callup.id}/checkin", data={"csrf_token": csrf_of(page), "token": code})
    assert twice.status_code == 409
    assert "已签到" in twice.get_data(as_text=True)
    clock.advance(timedelta(hours=5))
    assert callups.record_no_shows(session) == 1
    session.commit()
    detail = browser_for("community_staff").get(f"/console/callups/{callup.id}").get_data(as_text=True)
    assert "缺席（1）" in detail
    assert session.scalar(select(ShiftSignup.status).where(ShiftSignup.resident_id == c.id)) == "no_show"


def test_scope_by_url(session: Session, browser_for: Any, org: Any, clock: Any) -> None:
    other = Community(code="C-ELSE", name="别的社区")
    session.add(other)
    session.flush()
    start = clock.now() + timedelta(days=1)
    shift = callups.ShiftSpec("别处", start, start + timedelta(hours=2), 2)
    theirs = Callup(community_id=other.id, title="别的社区倡议", audience={"volunteers": True},
                    signup_opens_at=clock.now(), signup_closes_at=start, status="open")  # fmt: skip
    session.add(theirs)
    g2 = callups.create_callup(session, org.staff["g2_leader"].id, community_id=org.community.id, title="二网格倡议",
                               shifts=[shift], audience={"grid_ids": [org.grids["G2"].id]},
                               signup_closes_at=start)  # fmt: skip
    session.commit()
    leader = browser_for("g1_leader")
    for callup_id in (theirs.id, g2.id):
        resp = leader.get(f"/console/callups/{callup_id}")
        assert resp.status_code == 403
        assert "无权查看该倡议" in resp.get_data(as_text=True)
        assert leader.get(f"/console/callups/{callup_id}/fill").status_code == 403
    listed = leader.get("/console/callups").get_data(as_text=True)
    assert "二网格倡议" not in listed
    assert "别的社区倡议" not in listed
    page = leader.get("/console/callups/new").get_data(as_text=True)
    refused = leader.post(f"/console/callups/{g2.id}/send", data={"csrf_token": csrf_of(page)})
    assert refused.status_code == 403
    assert session.get(Callup, g2.id).recipients_frozen_at is None  # type: ignore[union-attr]
    # A grid leader calling up the whole community is refused by the same rule as the API.
    resp = compose(leader)
    assert resp.status_code == 403
    assert "网格员只能管理本网格的志愿服务" in resp.get_data(as_text=True)
    mine = compose(leader, grid_ids=str(org.grids["G1"].id))
    assert mine.status_code == 303
    assert 'id="send"' in leader.get(mine.headers["Location"]).get_data(as_text=True)
    community_wide = callups.create_callup(session, org.staff["community_staff"].id, community_id=org.community.id,
                                           title="全社区倡议", shifts=[shift], audience={},
                                           signup_closes_at=start)  # fmt: skip
    session.commit()
    follow = leader.get(f"/console/callups/{community_wide.id}").get_data(as_text=True)
    assert "全社区倡议" in follow  # grid staff follow their community's call-ups …
    assert 'id="send"' not in follow  # … and are not offered what they may not do
    assert 'id="follow-only"' in follow
    assert (
        leader.post(f"/console/callups/{community_wide.id}/send", data={"csrf_token": csrf_of(page)}).status_code == 403
    )


def test_the_staff_api_fill_rate_keeps_to_scope(
    session: Session, client: Any, token: Any, org: Any, clock: Any
) -> None:
    start = clock.now() + timedelta(days=1)
    g2 = callups.create_callup(session, org.staff["g2_leader"].id, community_id=org.community.id, title="二网格倡议",
                               shifts=[callups.ShiftSpec("二网格", start, start + timedelta(hours=1), 1)],
                               audience={"grid_ids": [org.grids["G2"].id]}, signup_closes_at=start)  # fmt: skip
    session.commit()
    assert client.get(f"/console/api/callups/{g2.id}/fill", headers=token("g1_leader")).status_code == 403
    assert client.get(f"/console/api/callups/{g2.id}/fill", headers=token("g2_leader")).status_code == 200
