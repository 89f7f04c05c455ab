"""Inbox and appeal page over the Flask client: scope, filters, counts, the urgent alert, the allowed actions,
refusals in Chinese, and the audit log of every step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.outbox import commit_and_enqueue
from models.appeal import Appeal
from models.audit import AuditEntry
from services.appeals import workflow
from tests.console.pages.conftest import csrf_of


def _dispatched(app: Flask, session: Session, make_appeal: Callable[..., Appeal], building: str = "E-LZ-1") -> Appeal:
    appeal = make_appeal(building=building)
    workflow.dispatch(session, appeal, actor=workflow.SYSTEM, handler_type="grid", grid_id=appeal.grid_id)
    with app.app_context():
        commit_and_enqueue(session)
    return appeal


def test_the_inbox_shows_my_grid_only_with_counts_filters_and_search(
    app: Flask, session: Session, browser_for: Any, make_appeal: Callable[..., Appeal]
) -> None:
    mine = _dispatched(app, session, make_appeal)
    other = _dispatched(app, session, make_appeal, building="E-XY-2")
    calm = make_appeal()
    urgent = make_appeal(category="fire_safety")
    urgent.urgent = True
    session.commit()
    browser = browser_for("g1_leader")
    html = browser.get("/console/").get_data(as_text=True)
    assert mine.number in html
    assert calm.number in html
    assert other.number not in html  # G3's appeal is outside a G1 leader's scope
    assert html.index(urgent.number) < html.index(mine.number) < html.index(calm.number)  # urgent, then due first
    assert "待派单" in html or "已派单" in html
    filtered = browser.get("/console/?state=dispatched").get_data(as_text=True)
    assert mine.number in filtered
    assert calm.number not in filtered
    searched = browser.get(f"/console/?q={mine.number}").get_data(as_text=True)
    assert "共 1 件" in searched
    assert "共 1 件" in browser.get("/console/?urgent=1").get_data(as_text=True)
    bad = browser.get("/console/?from=yesterday")
    assert bad.status_code == 400
    assert "日期格式" in bad.get_data(as_text=True)


def test_a_new_urgent_appeal_raises_the_inbox_alert(
    session: Session, browser_for: Any, make_appeal: Callable[..., Appeal]
) -> None:
    make_appeal()
    browser = browser_for("g1_leader")
    html = browser.get("/console/").get_data(as_text=True)
    newest = int(html.split("/console/inbox/alerts?after=")[1].split('"')[0])
    assert "新的紧急诉求" not in browser.get(f"/console/inbox/alerts?after={newest}").get_data(as_text=True)
    fire = make_appeal(category="fire_safety")
    fire.urgent = True
    session.commit()
    far = make_appeal(building="E-XY-2", category="fire_safety")
    far.urgent = True
    session.commit()
    alert = browser.get(f"/console/inbox/alerts?after={newest}").get_data(as_text=True)
    assert "新的紧急诉求" in alert
    assert fire.number in alert
    assert far.number not in alert  # another grid's emergency is not this leader's alert


def test_another_grids_appeal_by_url_is_a_chinese_403(
    app: Flask, session: Session, browser_for: Any, make_appeal: Callable[..., Appeal]
) -> None:
    other = _dispatched(app, session, make_appeal, building="E-XY-2")
    browser = browser_for("g1_leader")
    resp = browser.get(f"/console/appeals/{other.public_id}")
    assert resp.status_code == 403
    assert "不在您的管辖范围内" in resp.get_data(as_text=True)
    page = browser.get("/console/")
    act = browser.post(
        f"/console/appeals/{other.public_id}/accept", data={"csrf_token": csrf_of(page.get_data(as_text=True))}
    )
    assert act.status_code == 403
    session.refresh(other)
    assert other.status == "dispatched"


def test_the_appeal_page_offers_only_the_steps_allowed_now_and_audits_each(
    app: Flask, session: Session, browser_for: Any, make_appeal: Callable[..., Appeal]
) -> None:
    appeal = _dispatched(app, session, make_appeal)
    worker = browser_for("g1_worker")
    html = worker.get(f"/console/appeals/{appeal.public_id}").get_data(as_text=True)
    assert 'id="do-accept"' in html
    assert 'id="do-resolve"' not in html
    assert 'id="do-dispatch"' not in html
    assert "楼下车库入口积水严重" in html
    assert "办理过程" in html
    assert "剩余" in html

    token = csrf_of(html)
    assert (
        worker.post(
            f"/console/appeals/{appeal.public_id}/resolve", data={"csrf_token": token, "reply": "已处理"}
        ).status_code
        == 409
    )
    for action, data in (("accept", {}), ("start", {}), ("note", {"text": "已联系物业清理", "public": "1"})):
        resp = worker.post(f"/console/appeals/{appeal.public_id}/{action}", data={"csrf_token": token, **data})
        assert resp.status_code == 303, resp.get_data(as_text=True)
    empty = worker.post(f"/console/appeals/{appeal.public_id}/resolve", data={"csrf_token": token, "reply": ""})
    assert empty.status_code == 422
    assert "请填写给居民的答复" in empty.get_data(as_text=True)
    done = worker.post(
        f"/console/appeals/{appeal.public_id}/resolve", data={"csrf_token": token, "reply": "积水已抽干，排水口已疏通"}
    )
    assert done.status_code == 303
    session.expire_all()
    assert session.get(Appeal, appeal.id).status == "resolved"
    page = worker.get(f"/console/appeals/{appeal.public_id}").get_data(as_text=True)
    assert "积水已抽干" in page
    assert "公开" in page
    actions = [e.action for e in session.scalars(select(AuditEntry).where(AuditEntry.object_id == appeal.public_id))]
    assert actions == ["accept", "start", "note", "resolve"]


def test_a_grid_leader_dispatches_and_recategorises_from_the_page(
    session: Session, browser_for: Any, make_appeal: Callable[..., Appeal], org: Any
) -> None:
    appeal = make_appeal()
    leader = browser_for("g1_leader")
    html = leader.get(f"/console/appeals/{appeal.public_id}").get_data(as_text=True)
    assert 'id="do-dispatch"' in html
    assert 'id="do-accept"' not in html
    resp = leader.post(
        f"/console/appeals/{appeal.public_id}/dispatch",
        data={"csrf_token": csrf_of(html), "handler_type": "grid", "grid_id": str(org.grids["G1"].id)},
    )
    assert resp.status_code == 303
    session.expire_all()
    assert session.get(Appeal, appeal.id).status == "dispatched"
