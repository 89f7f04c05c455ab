"""通知 page: compose and publish for a grid; an urgent notice reaches the residents in scope through WeChat
(the sandbox); read receipts are shown; form errors are explained."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.notice import Notice
from tests.console.pages.conftest import csrf_of


def test_an_urgent_grid_notice_is_published_pushed_and_counted(
    session: Session, browser_for: Any, org: Any, wechat: Any
) -> None:
    wechat.say("/subscribe b-e-lz-1")  # a resident of G1
    elsewhere = wechat.as_user("oConsoleResidentG3000000000001")
    elsewhere.say("/subscribe b-e-xy-2")  # a resident of G3
    desk = browser_for("community_staff")
    page = desk.get("/console/notices").get_data(as_text=True)
    resp = desk.post("/console/notices", data={
        "csrf_token": csrf_of(page), "title": "明日停水通知", "body": "12月8日9:00-12:00第一网格检修管道停水",
        "category": "community", "scope": "grid", "grid_id": str(org.grids["G1"].id), "urgent": "1",
    })  # fmt: skip
    assert resp.status_code == 303, resp.get_data(as_text=True)
    notice = session.scalar(select(Notice).where(Notice.title == "明日停水通知"))
    assert notice is not None
    assert notice.grid_id == org.grids["G1"].id
    session.commit()
    wechat.run_jobs()
    assert any("明日停水通知" in text for text in wechat.answers())
    assert not any("明日停水通知" in text for text in elsewhere.answers())  # outside the notice's scope
    listed = desk.get("/console/notices").get_data(as_text=True)
    assert "明日停水通知" in listed
    assert "0 / 1" in listed  # nobody has read it yet; one resident is in scope


def test_notice_form_errors_and_roles(browser_for: Any) -> None:
    desk = browser_for("community_staff")
    page = desk.get("/console/notices").get_data(as_text=True)
    resp = desk.post("/console/notices", data={"csrf_token": csrf_of(page), "title": "", "body": "x", "scope": "grid"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "标题应为" in html
    assert "请选择发布范围中的网格或小区" in html
    assert browser_for("g1_worker").get("/console/notices").status_code == 403
