"""议事会 pages: a council with members and a meeting (agenda, attendance, minutes), an item walked through
四议两公开 on its decision page — a step out of order refused with the service's message and nothing recorded —
and 决议公开 publishing a notice that reaches the residents in scope."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra import clock as project_clock
from models.council import CouncilItem, CouncilMeeting, MeetingAttendance, ProcedureStep
from models.notice import Notice
from tests.console.pages.conftest import csrf_of


def test_a_council_meeting_and_an_item_through_four_deliberations_and_two_publications(
    session: Session, browser_for: Any, org: Any, clock: Any, wechat: Any
) -> None:
    wechat.say("/subscribe b-e-lz-1")  # a resident of 绿洲花园
    desk = browser_for("secretary")
    token = csrf_of(desk.get("/console/councils").get_data(as_text=True))
    created = desk.post("/console/councils", data={"csrf_token": token, "name": "绿洲花园议事会",
                                                   "estate_id": str(org.estates["E-LZ"].id)})  # fmt: skip
    assert created.status_code == 303
    council_url = created.headers["Location"]
    for name, kind in (("王代表", "resident_rep"), ("李党员", "party_member")):
        added = desk.post(f"{council_url}/members", data={"csrf_token": token, "name": name, "kind": kind})
        assert added.status_code == 303
    bad_kind = desk.post(f"{council_url}/members", data={"csrf_token": token, "name": "某", "kind": "mayor"})
    assert bad_kind.status_code == 400
    assert "成员类别须为" in bad_kind.get_data(as_text=True)
    held_at = clock.now().astimezone(project_clock.LOCAL_TZ).strftime("%Y-%m-%dT%H:%M")
    assert desk.post(f"{council_url}/meetings", data={"csrf_token": token, "title": "十二月议事", "held_at": held_at,
                                                      "agenda": "增设充电桩\n楼道堆物"}).status_code == 303  # fmt: skip
    meeting = session.scalar(select(CouncilMeeting).where(CouncilMeeting.title == "十二月议事"))
    assert meeting is not None
    assert meeting.agenda == ["增设充电桩", "楼道堆物"]
    page = desk.get(council_url).get_data(as_text=True)
    member_ids = [int(v) for v in re.findall(r'name="present" value="(\d+)"', page)]
    assert len(member_ids) == 2
    attendance = {"csrf_token": token, "present": [str(member_ids[0])], "minutes": "同意增设"}
    recorded = desk.post(f"/console/meetings/{meeting.id}/record", data=attendance)
    assert recorded.status_code == 303
    session.expire_all()
    rows = session.scalars(select(MeetingAttendance).where(MeetingAttendance.meeting_id == meeting.id)).all()
    assert sorted(r.present for r in rows) == [False, True]
    assert "出席 1 / 2 人" in desk.get(council_url).get_data(as_text=True)
    item = desk.post(f"{council_url}/items", data={"csrf_token": token, "title": "增设充电桩", "source_type": "staff",
                                                   "meeting_id": str(meeting.id), "major": "1"})  # fmt: skip
    assert item.status_code == 303
    item_url = item.headers["Location"]
    assert "下一步" in desk.get(item_url).get_data(as_text=True)
    day = clock.local_now().date().isoformat()
    skipped = desk.post(f"{item_url}/steps", data={"csrf_token": token, "step": "party_review", "held_on": day,
                                                   "outcome": "approved"})  # fmt: skip
    assert skipped.status_code == 409
    assert "步骤顺序不对：下一步应为「党组织提议」" in skipped.get_data(as_text=True)
    session.expire_all()
    row = session.scalar(select(CouncilItem).where(CouncilItem.title == "增设充电桩"))
    assert row is not None
    assert session.scalars(select(ProcedureStep).where(ProcedureStep.item_id == row.id)).all() == []
    for step in ("party_proposal", "committees_consult", "party_review", "representatives_resolve"):
        done = desk.post(f"{item_url}/steps", data={"csrf_token": token, "step": step, "held_on": day,
                                                    "outcome": "approved", "note": f"{step} 通过"})  # fmt: skip
        assert done.status_code == 303, done.get_data(as_text=True)
    published = desk.post(f"{item_url}/publish", data={
        "csrf_token": token, "step": "publish_resolution", "held_on": day, "text": "决议：绿洲花园增设充电桩 20 个",
        "create": "proposal", "proposal_title": "绿洲花园充电桩", "rough_cost_yuan": "30000"})  # fmt: skip
    assert published.status_code == 303
    session.expire_all()
    notice = session.scalar(select(Notice).where(Notice.title == "决议公开：增设充电桩"))
    assert notice is not None
    assert notice.estate_id == org.estates["E-LZ"].id
    session.commit()
    wechat.run_jobs()
    assert any("增设充电桩" in text for text in wechat.answers())  # pushed to the resident in scope
    clock.advance(timedelta(hours=1))
    final = desk.post(f"{item_url}/publish", data={"csrf_token": token, "step": "publish_result", "held_on": day,
                                                   "text": "20 个充电桩已投入使用"})  # fmt: skip
    assert final.status_code == 303
    shown = desk.get(item_url).get_data(as_text=True)
    assert "已办结" in shown
    assert "程序已结束" in shown
    assert shown.count(f"<time>{day}</time>") == 6


def test_council_pages_refuse_other_roles_and_forms_without_csrf(browser_for: Any, org: Any) -> None:
    refused = browser_for("pc_lh").get("/console/councils")
    assert refused.status_code == 403
    assert "您的角色不能组织居民议事和微实事" in refused.get_data(as_text=True)
    forged = browser_for("secretary").post("/console/councils", data={"name": "无令牌议事会"})
    assert forged.status_code == 400
    assert "CSRF" in forged.get_data(as_text=True)


def test_an_ordinary_decision_from_the_page_posts_a_co_building_need(
    session: Session, browser_for: Any, org: Any, clock: Any
) -> None:
    from models.cobuilding import CobuildingNeed

    desk = browser_for("secretary")
    token = csrf_of(desk.get("/console/councils").get_data(as_text=True))
    council_url = desk.post("/console/councils", data={"csrf_token": token, "name": "社区议事会"}).headers["Location"]
    item_url = desk.post(f"{council_url}/items", data={"csrf_token": token, "title": "助老送餐",
                                                       "source_type": "staff"}).headers["Location"]  # fmt: skip
    assert "议事会决定" in desk.get(item_url).get_data(as_text=True)  # not major: one decision, no 四议两公开
    decided = desk.post(f"{item_url}/decide", data={"csrf_token": token, "decision": "请共建单位每周送餐三次",
                                                    "create": "need", "proposal_title": "独居老人送餐",
                                                    "beneficiaries": "8"})  # fmt: skip
    assert decided.status_code == 303, decided.get_data(as_text=True)
    session.expire_all()
    need = session.scalar(select(CobuildingNeed).where(CobuildingNeed.title == "独居老人送餐"))
    assert need is not None
    assert (need.source, need.beneficiaries, need.description) == ("deliberation", 8, "请共建单位每周送餐三次")
    assert f"需求清单第 {need.id} 号" in desk.get(item_url).get_data(as_text=True)
