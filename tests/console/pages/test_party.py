"""党员 pages: the 报到 queue (verify, decline with a required reason), branches masked, 联户 and coverage, the
先锋日志 review into the ledger with monthly totals, 行动支部 from formation to its result, tags, monthly awards."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Resident
from models.notice import Notice
from models.party import ActionBranch, CommunityTag, PartyMember, TagAssignment
from services.party import activity, members
from services.points import ledger as points
from tests.console.pages.conftest import csrf_of

_seq = iter(range(100, 10_000))


def resident(session: Session, org: Any, name: str, building: str = "E-LZ-1") -> Resident:
    """A resident living in a room of `building`."""
    b = org.buildings[building]
    r = Resident(name=name, phone="13900001111", openid=f"o-party-page-{next(_seq)}", subscribed=True,
                 community_id=org.community.id, grid_id=b.grid_id, building_id=b.id, room=str(next(_seq)))  # fmt: skip
    session.add(r)
    session.flush()
    return r


def registered(session: Session, org: Any, name: str, building: str = "E-LZ-1", verify: bool = False) -> PartyMember:
    """A party member's registration (verified by community staff when `verify`)."""
    m = members.register(session, resident(session, org, name, building).id, category="在职",
                         organisation="苏州工业园区某某科技有限公司党支部")  # fmt: skip
    if verify:
        members.verify(session, m.id, org.staff["community_staff"].id)
    session.commit()
    return m


def test_the_registration_queue_verifies_and_declines_only_with_a_reason(
    session: Session, browser_for: Any, org: Any, run_jobs: Any, sandbox: Any
) -> None:
    mine = registered(session, org, "王建国")
    theirs = registered(session, org, "林志强", "E-LZ-4")  # grid G2
    leader = browser_for("g1_leader")
    html = leader.get("/console/party").get_data(as_text=True)
    assert f"member-{mine.id}" in html
    assert f"member-{theirs.id}" not in html
    assert "王**" in html
    assert "139****1111" in html
    assert "苏州" in html
    assert "苏州工业园区某某科技有限公司党支部" not in html  # the organisation is masked as the API masks it
    refused = leader.post(f"/console/party/members/{theirs.id}/verify",
                          data={"csrf_token": csrf_of(html), "accept": "1"})  # fmt: skip
    assert refused.status_code == 403
    no_reason = leader.post(f"/console/party/members/{mine.id}/verify",
                            data={"csrf_token": csrf_of(html), "accept": "0", "reason": ""})  # fmt: skip
    assert no_reason.status_code == 422
    assert "请填写未能核实的原因" in no_reason.get_data(as_text=True)
    session.expire_all()
    assert session.get(PartyMember, mine.id).status == "pending"  # type: ignore[union-attr]
    declined = leader.post(f"/console/party/members/{mine.id}/verify",
                           data={"csrf_token": csrf_of(html), "accept": "0", "reason": "组织关系信息不符"})  # fmt: skip
    assert declined.status_code == 303
    session.expire_all()
    assert session.get(PartyMember, mine.id).status == "rejected"  # type: ignore[union-attr]
    session.commit()
    run_jobs()
    told = session.get(Resident, mine.resident_id)
    assert any("组织关系信息不符" in str(s["body"]) for s in sandbox.sent(touser=told.openid))  # type: ignore[union-attr]
    desk = browser_for("community_staff")
    page = desk.get("/console/party").get_data(as_text=True)
    assert desk.post(f"/console/party/members/{theirs.id}/verify",
                     data={"csrf_token": csrf_of(page), "accept": "1"}).status_code == 303  # fmt: skip
    branch = desk.get("/console/party").get_data(as_text=True)
    assert "第二网格党支部（1 人）" in branch
    assert "林**" in branch


def test_households_are_linked_and_coverage_is_drawn(session: Session, browser_for: Any, org: Any) -> None:
    m = registered(session, org, "蒋先锋", verify=True)
    resident(session, org, "邻居甲")
    session.commit()
    desk = browser_for("community_staff")
    html = desk.get("/console/party").get_data(as_text=True)
    building = org.buildings["E-LZ-1"].id
    form = {"csrf_token": csrf_of(html), "member_id": str(m.id), "building_id": str(building), "room": "601"}
    assert desk.post("/console/party/households", data=form).status_code == 303
    taken = desk.post("/console/party/households", data=form)
    assert taken.status_code == 409
    assert "该住户已有联户党员" in taken.get_data(as_text=True)
    elsewhere = {**form, "building_id": str(org.buildings["E-XY-1"].id)}
    assert desk.post("/console/party/households", data=elsewhere).status_code == 409  # not the member's grid
    page = desk.get("/console/party").get_data(as_text=True)
    [g1] = [c for c in members.coverage(session, org.community.id) if c.grid_id == org.grids["G1"].id]
    assert (g1.households, g1.covered) == (3, 1)  # two residents' homes and the linked room
    assert "<td>第一网格</td><td>3</td><td>1</td><td>33.3%</td>" in page
    assert 'id="coverage-chart"' in page
    assert 'width="87"' in page  # a third of the 260-wide bar


def test_pioneer_logs_are_reviewed_into_the_ledger_and_totalled(
    session: Session, browser_for: Any, org: Any, clock: Any
) -> None:
    category = next(iter(points.seed_task_categories(session).values()))
    m = registered(session, org, "沈先锋", verify=True)
    entry = activity.log_entry(session, m.resident_id, category.id, text="入户宣传垃圾分类十户", photos=["p1"],
                               lat=31.3, lng=120.7)  # fmt: skip
    other = activity.log_entry(session, m.resident_id, category.id, text="楼道堆物清理三处", photos=[],
                               lat=31.3, lng=120.7)  # fmt: skip
    session.commit()
    leader = browser_for("g1_leader")
    html = leader.get("/console/party/logs").get_data(as_text=True)
    assert "入户宣传垃圾分类十户" in html
    bare = leader.post(f"/console/party/logs/{other.id}/review",
                       data={"csrf_token": csrf_of(html), "approve": "0", "note": " "})  # fmt: skip
    assert bare.status_code == 422
    assert "驳回时请说明原因" in bare.get_data(as_text=True)
    ok = leader.post(f"/console/party/logs/{entry.id}/review", data={"csrf_token": csrf_of(html), "approve": "1"})
    assert ok.status_code == 303
    assert points.balance_of(session, m.resident_id) == category.standard_points
    session.commit()
    totals = leader.get(f"/console/party/logs?period={entry.period_key}").get_data(as_text=True)
    assert f"<td>第一网格</td><td>1</td><td>{category.standard_points}</td>" in totals
    assert leader.get("/console/party/logs?period=2026-13").status_code == 400


def test_an_action_branch_from_formation_to_its_result_and_tags(session: Session, browser_for: Any, org: Any) -> None:
    m = registered(session, org, "蒋先锋", verify=True)
    desk = browser_for("community_staff")
    html = desk.get("/console/party/action").get_data(as_text=True)
    token = csrf_of(html)
    backwards = desk.post("/console/party/action-branches", data={"csrf_token": token, "name": "垃圾分类行动支部",
                          "goal": "督导十个投放点", "starts_on": "2026-12-08", "ends_on": "2026-12-01"})  # fmt: skip
    assert backwards.status_code == 422
    assert "结束日期不能早于开始日期" in backwards.get_data(as_text=True)
    made = desk.post("/console/party/action-branches", data={"csrf_token": token, "name": "垃圾分类行动支部",
                     "goal": "督导十个投放点", "starts_on": "2026-12-01", "ends_on": "2026-12-31",
                     "member_ids": str(m.id)})  # fmt: skip
    assert made.status_code == 303
    branch = session.scalar(select(ActionBranch))
    assert branch is not None
    assert [x.id for x in activity.branch_members(session, branch.id)] == [m.id]
    session.commit()
    progress = desk.post(f"/console/party/action-branches/{branch.id}/progress",
                         data={"csrf_token": token, "progress": "60", "note": "六个投放点已督导"})  # fmt: skip
    assert progress.status_code == 303
    no_result = desk.post(f"/console/party/action-branches/{branch.id}/close", data={"csrf_token": token})
    assert no_result.status_code == 422
    assert "请填写行动成果" in no_result.get_data(as_text=True)
    closed = desk.post(f"/console/party/action-branches/{branch.id}/close",
                       data={"csrf_token": token, "result": "十个投放点分类准确率达到九成"})  # fmt: skip
    assert closed.status_code == 303
    page = desk.get("/console/party/action").get_data(as_text=True)
    assert "十个投放点分类准确率达到九成" in page
    assert "已结束" in page

    assert desk.post("/console/party/tags", data={"csrf_token": token, "name": "党员示范户",
                     "applies_to": "party_member"}).status_code == 303  # fmt: skip
    twice = desk.post("/console/party/tags", data={"csrf_token": token, "name": "党员示范户",
                      "applies_to": "party_member"})  # fmt: skip
    assert twice.status_code == 409
    assert "标签已存在" in twice.get_data(as_text=True)
    tag = session.scalar(select(CommunityTag))
    assert tag is not None
    session.commit()
    assigned = desk.post(f"/console/party/tags/{tag.id}/assign", data={"csrf_token": token, "target_id": str(m.id)})
    assert assigned.status_code == 303
    session.commit()
    assert session.scalar(select(TagAssignment.target_id).where(TagAssignment.tag_id == tag.id)) == m.id
    nothing = desk.post(f"/console/party/tags/{tag.id}/assign", data={"csrf_token": token, "target_id": "999999"})
    assert nothing.status_code == 422
    assert "标签对象不存在" in nothing.get_data(as_text=True)


def test_monthly_awards_are_computed_approved_and_published(
    session: Session, browser_for: Any, org: Any, clock: Any
) -> None:
    category = next(iter(points.seed_task_categories(session).values()))
    m = registered(session, org, "蒋先锋", verify=True)
    entry = activity.log_entry(session, m.resident_id, category.id, text="入户宣传垃圾分类十户", photos=[],
                               lat=31.3, lng=120.7)  # fmt: skip
    activity.review_log(session, entry.id, org.staff["community_staff"].id, approve=True)
    session.commit()
    desk = browser_for("community_staff")
    html = desk.get(f"/console/party/awards?period={entry.period_key}").get_data(as_text=True)
    computed = desk.post("/console/party/awards/compute", data={"csrf_token": csrf_of(html),
                                                                 "period": entry.period_key})  # fmt: skip
    assert computed.status_code == 303
    page = desk.get(computed.headers["Location"]).get_data(as_text=True)
    assert "蒋**" in page
    assert "待审核" in page
    from services.party import awards

    award, [candidate] = awards.round_of(session, org.community.id, entry.period_key)
    assert award is not None
    session.commit()
    empty = desk.post(f"/console/party/awards/{award.id}/publish", data={"csrf_token": csrf_of(page),
                                                                          "period": entry.period_key})  # fmt: skip
    assert empty.status_code == 422
    assert "请选择本轮评选的候选人" in empty.get_data(as_text=True)
    published = desk.post(f"/console/party/awards/{award.id}/publish",
                          data={"csrf_token": csrf_of(page), "period": entry.period_key,
                                "candidate_ids": str(candidate.id)})  # fmt: skip
    assert published.status_code == 303
    notice = session.scalar(select(Notice).where(Notice.title.like("%志愿服务先进")))
    assert notice is not None
    assert "蒋**" in notice.body
    assert "已发布" in desk.get(published.headers["Location"]).get_data(as_text=True)


def test_another_grids_branch_is_not_listed_for_grid_staff_and_the_api_keeps_to_scope(
    session: Session, browser_for: Any, org: Any, client: Any, token: Any
) -> None:
    registered(session, org, "林志强", "E-LZ-4", verify=True)  # grid G2
    page = browser_for("g1_leader").get("/console/party").get_data(as_text=True)
    assert "第二网格党支部" not in page
    assert "林**" not in page
    g2 = org.grids["G2"].id
    assert client.get(f"/console/api/party/branches/{g2}", headers=token("g1_leader")).status_code == 403
    assert client.get(f"/console/api/party/branches/{g2}", headers=token("g2_leader")).status_code == 200
    assert browser_for("pc_lh").get("/console/party").status_code == 403
