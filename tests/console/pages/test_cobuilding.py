"""共建 pages over the Flask client: member units and their sign-in links, a unit's reduced scope, the resource and
needs lists with suggestions, one-click orders with 接单 / a reasoned decline, projects and the figures; refusals
in Chinese, CSRF, and the audit log."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.appeal import Appeal
from models.audit import AuditEntry
from models.cobuilding import CobuildingMember, CobuildingNeed, CobuildingOrder, CobuildingResource, CobuildingUnit
from models.staff import Staff
from services.cobuilding import orders, resources
from services.console.signin import issue_link
from tests.console.pages.conftest import csrf_of
from tests.services.cobuilding.conftest import Cob, seed_cobuilding


@pytest.fixture
def cob(session: Session, org: Any, clock: Any) -> Cob:
    """Two member units of the demo community with their 兼职委员 logins and a lecture resource, committed."""
    seeded = seed_cobuilding(session, org, capacity=2)
    session.commit()
    return seeded


@pytest.fixture
def sign_in_staff(app: Flask, session: Session) -> Callable[[int], FlaskClient]:
    """A fresh test client signed in through a one-time link as the staff member with this id."""

    def sign_in(staff_id: int) -> FlaskClient:
        session.commit()  # a write on an old read snapshot would be refused: start afresh
        token = issue_link(session, staff_id)
        session.commit()
        browser = app.test_client()
        page = browser.get(f"/console/login/link/{token}")
        done = browser.post(f"/console/login/link/{token}", data={"csrf_token": csrf_of(page.get_data(as_text=True))})
        assert done.status_code == 302, done.get_data(as_text=True)
        browser.landing = done.headers["Location"]  # type: ignore[attr-defined]
        return browser

    return sign_in


def _fresh(session: Session) -> None:
    """End the test's read transaction and forget loaded rows, so the next read sees what the pages wrote."""
    session.commit()
    session.expire_all()


def _post(browser: FlaskClient, form_page: str, url: str, **data: Any) -> Any:
    """Submit a form of `form_page` (its CSRF token) to `url`."""
    token = csrf_of(browser.get(form_page).get_data(as_text=True))
    return browser.post(url, data={"csrf_token": token, **data})


def _place(browser: FlaskClient, resource_id: int, need_id: int | None = None, quantity: int = 1) -> Any:
    data: dict[str, Any] = {"resource_id": resource_id, "quantity": quantity}
    if need_id is not None:
        data["need_id"] = need_id
    return _post(browser, "/console/cobuilding/resources", "/console/cobuilding/orders", **data)


def _order_id(resp: Any) -> int:
    assert resp.status_code == 303, resp.get_data(as_text=True)
    return int(resp.headers["Location"].rsplit("/", 1)[1])


def test_a_member_unit_lands_on_its_orders_sees_a_reduced_nav_and_other_pages_refuse_it(
    cob: Cob, sign_in_staff: Callable[[int], FlaskClient]
) -> None:
    unit = sign_in_staff(cob.school_login.id)
    assert unit.landing.endswith("/console/cobuilding/orders")  # type: ignore[attr-defined]
    html = unit.get("/console/cobuilding/orders").get_data(as_text=True)
    nav = html.split('aria-label="主导航"')[1].split("</nav>")[0]
    for entry in ("本单位资源", "本单位订单", "共建项目", "评价", "我的登录"):
        assert entry in nav
    for entry in ("收件箱", "代录诉求", "分析研判", "通知", "需求清单"):
        assert entry not in nav
    for path in ("/console/", "/console/kpi", "/console/intake", "/console/notices", "/console/cobuilding/needs",
                 "/console/cobuilding/units", "/console/cobuilding/figures"):  # fmt: skip
        refused = unit.get(path)
        assert refused.status_code == 403, path
        assert "共建单位账号只能办理本单位的资源、订单、项目和评价" in refused.get_data(as_text=True)
    assert unit.get("/console/sessions").status_code == 200
    assert unit.get("/console/bind-wechat").status_code == 200  # so the 兼职委员 can sign in by QR next time
    mine = unit.get("/console/cobuilding/resources").get_data(as_text=True)
    assert "青少年心理健康讲座" in mine


def test_staff_add_and_edit_a_unit_and_give_its_member_a_one_time_sign_in_link(
    app: Flask, session: Session, org: Any, clock: Any, browser_for: Any
) -> None:
    secretary = browser_for("secretary")
    bad = _post(secretary, "/console/cobuilding/units", "/console/cobuilding/units", code="U-BANK", name="农商银行",
                kind="business", member_from="2026-12-01", member_until="2026-01-01")  # fmt: skip
    assert bad.status_code == 400
    assert "成员期限的结束日期早于开始日期" in bad.get_data(as_text=True)
    _fresh(session)
    assert session.scalar(select(func.count()).select_from(CobuildingUnit)) == 0  # nothing half-saved
    missing = _post(secretary, "/console/cobuilding/units", "/console/cobuilding/units", code="U-BANK", name="",
                    kind="business", member_from="2026-12-01")  # fmt: skip
    assert missing.status_code == 422
    assert "请填写单位名称" in missing.get_data(as_text=True)
    bad_code = _post(secretary, "/console/cobuilding/units", "/console/cobuilding/units", code="农商 行",
                     name="农商银行", kind="business", member_from="2026-01-01")  # fmt: skip
    assert bad_code.status_code == 422
    assert "单位编码只能由字母、数字" in bad_code.get_data(as_text=True)
    made = _post(secretary, "/console/cobuilding/units", "/console/cobuilding/units", code="U-BANK", name="农商银行",
                 kind="business", member_from="2026-01-01", contact_name="周经理",
                 contact_phone="13800001234")  # fmt: skip
    assert made.status_code == 303
    page = made.headers["Location"]
    edited = _post(secretary, page, page, name="农商银行湖西支行", kind="state_owned", member_from="2026-01-01",
                   member_until="2027-12-31", contact_name="周经理", contact_phone="13800001234")  # fmt: skip
    assert edited.status_code == 303
    _fresh(session)
    unit = session.scalar(select(CobuildingUnit).where(CobuildingUnit.code == "U-BANK"))
    assert (unit.name, unit.kind, str(unit.member_until)) == ("农商银行湖西支行", "state_owned", "2027-12-31")
    added = _post(secretary, page, f"{page}/members", member_name="吴委员", post="兼职委员", phone="13700005678",
                  serves_from="2026-01-01", login="1")  # fmt: skip
    assert added.status_code == 303
    _fresh(session)
    member = session.scalar(select(CobuildingMember).where(CobuildingMember.unit_id == unit.id))
    assert member.staff_id is not None
    login = session.get(Staff, member.staff_id)
    assert login.role == "member_unit"
    shown = _post(secretary, page, f"{page}/members/{member.id}/link").get_data(as_text=True)
    link = re.search(r"http://localhost/console/login/link/([\w-]+)", shown)
    assert link, shown
    assert "单次有效" in shown
    # The 兼职委员 opens the link in their own browser and is in, with the unit's scope.
    other = app.test_client()
    form = other.get(f"/console/login/link/{link.group(1)}").get_data(as_text=True)
    done = other.post(f"/console/login/link/{link.group(1)}", data={"csrf_token": csrf_of(form)})
    assert done.headers["Location"].endswith("/console/cobuilding/orders")
    assert "吴委员（共建单位）" in other.get("/console/cobuilding/orders").get_data(as_text=True)
    assert other.post(f"/console/login/link/{link.group(1)}", data={"csrf_token": csrf_of(form)}).status_code == 403
    _fresh(session)
    actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.object_type.in_(("cobuilding_unit",
                                                                                              "staff")))))  # fmt: skip
    assert {"cob_unit_create", "cob_unit_update", "cob_member_add", "cob_member_link"} <= actions
    # A grid leader sees the unit, but no form to change it.
    session.commit()
    leader_view = browser_for("g1_leader").get(page).get_data(as_text=True)
    assert "农商银行湖西支行" in leader_view
    assert "修改单位信息" not in leader_view
    assert "138****1234" in leader_view  # the contact is masked for anyone but the unit and its coordinators


def test_a_unit_publishes_and_edits_its_resources_and_the_list_filters_and_searches(
    session: Session, cob: Cob, clock: Any, sign_in_staff: Callable[[int], FlaskClient], browser_for: Any
) -> None:
    unit = sign_in_staff(cob.company_login.id)
    start = (clock.local_now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    end = (clock.local_now() + timedelta(days=40)).strftime("%Y-%m-%dT%H:%M")
    backwards = _post(unit, "/console/cobuilding/resources", "/console/cobuilding/resources", kind="service",
                      title="电力设施安全检查", capacity="3", available_from=end, available_until=start)  # fmt: skip
    assert backwards.status_code == 400
    assert "可用时间的结束早于开始" in backwards.get_data(as_text=True)
    made = _post(unit, "/console/cobuilding/resources", "/console/cobuilding/resources", kind="service",
                 title="电力设施安全检查", description="电工上门检查老旧小区楼道线路和电表箱", capacity="3",
                 unit_label="次", available_from=start, available_until=end,
                 community_ids=str(cob.org.community.id))  # fmt: skip
    assert made.status_code == 303
    _fresh(session)
    resource = session.scalar(select(CobuildingResource).where(CobuildingResource.title == "电力设施安全检查"))
    assert resource.unit_id == cob.company.id
    page = made.headers["Location"]
    edited = _post(unit, page, page, title="电力设施安全检查", description="电工上门检查线路", capacity="5",
                   unit_label="次", available_from=start, available_until=end)  # fmt: skip
    assert edited.status_code == 303
    _fresh(session)
    assert resource.capacity == 5
    # The unit cannot open another unit's resource by URL.
    assert unit.get(f"/console/cobuilding/resources/{cob.lecture.id}").status_code == 403
    leader = browser_for("g1_leader")
    listing = leader.get("/console/cobuilding/resources").get_data(as_text=True)
    assert "电力设施安全检查" in listing
    assert "青少年心理健康讲座" in listing
    searched = leader.get("/console/cobuilding/resources?q=心理").get_data(as_text=True)
    assert "青少年心理健康讲座" in searched
    assert "电力设施安全检查" not in searched
    by_kind = leader.get("/console/cobuilding/resources?kind=service").get_data(as_text=True)
    assert "电力设施安全检查" in by_kind
    assert "青少年心理健康讲座" not in by_kind
    assert _post(unit, page, f"{page}/withdraw").status_code == 303
    orderable = leader.get("/console/cobuilding/resources?orderable=1").get_data(as_text=True)
    assert "电力设施安全检查" not in orderable  # withdrawn: listed, but no longer orderable
    assert "青少年心理健康讲座" in orderable
    assert "已下架" in leader.get("/console/cobuilding/resources").get_data(as_text=True)
    assert leader.get("/console/cobuilding/resources?kind=rocket").status_code == 400


def test_capacity_cannot_be_edited_below_what_orders_hold(
    session: Session, cob: Cob, clock: Any, sign_in_staff: Callable[[int], FlaskClient], browser_for: Any
) -> None:
    leader = browser_for("g1_leader")
    _order_id(_place(leader, cob.lecture.id, quantity=2))
    unit = sign_in_staff(cob.school_login.id)
    page = f"/console/cobuilding/resources/{cob.lecture.id}"
    start = (clock.local_now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    end = (clock.local_now() + timedelta(days=60)).strftime("%Y-%m-%dT%H:%M")
    refused = _post(unit, page, page, title="青少年心理健康讲座", capacity="1", unit_label="场",
                    available_from=start, available_until=end)  # fmt: skip
    assert refused.status_code == 400
    assert "不能少于已被订走的 2场" in refused.get_data(as_text=True)
    _fresh(session)
    assert cob.lecture.capacity == 2


def test_a_need_shows_suggestions_with_shared_keywords_and_is_ordered_in_one_click(
    session: Session, cob: Cob, browser_for: Any
) -> None:
    leader = browser_for("g1_leader")
    posted = _post(leader, "/console/cobuilding/needs", "/console/cobuilding/needs", title="孩子情绪和心理健康讲座",
                   description="家长希望有心理老师讲讲孩子的情绪管理", kind="expertise", beneficiaries="40",
                   beneficiary_note="G1 网格的家长和孩子")  # fmt: skip
    assert posted.status_code == 303
    _fresh(session)
    need = session.scalar(select(CobuildingNeed).where(CobuildingNeed.title == "孩子情绪和心理健康讲座"))
    assert need.grid_id == cob.org.grids["G1"].id
    page = leader.get(f"/console/cobuilding/needs/{need.id}").get_data(as_text=True)
    suggestions = page.split('id="suggestions"')[1]
    assert "青少年心理健康讲座" in suggestions
    assert "共同关键词：" in suggestions
    assert "心理" in suggestions.split("共同关键词：")[1].split("<")[0]
    assert f'name="need_id" value="{need.id}"' in suggestions
    order_id = _order_id(_place(leader, cob.lecture.id, need_id=need.id))
    _fresh(session)
    order = session.get(CobuildingOrder, order_id)
    assert (order.need_id, order.status, order.beneficiaries) == (need.id, "placed", 40)
    assert need.status == "ordered"
    need_orders = leader.get(f"/console/cobuilding/needs/{need.id}").get_data(as_text=True).split('id="need-orders"')[1]
    assert f"共建订单 {order_id}" in need_orders
    assert "剩余 " in need_orders  # the time left for the unit to answer
    listed = leader.get("/console/cobuilding/needs?status=ordered").get_data(as_text=True)
    assert "孩子情绪和心理健康讲座" in listed
    assert "孩子情绪和心理健康讲座" not in leader.get("/console/cobuilding/needs?status=open").get_data(as_text=True)
    assert "孩子情绪" in leader.get("/console/cobuilding/needs?q=情绪").get_data(as_text=True)
    assert "孩子情绪" not in leader.get("/console/cobuilding/needs?q=消防").get_data(as_text=True)
    _fresh(session)
    audit = session.scalar(select(AuditEntry).where(AuditEntry.action == "cob_order_place"))
    assert audit.object_id == str(order_id)


def test_the_appeal_page_raises_a_need_from_the_appeal(
    session: Session, cob: Cob, browser_for: Any, make_appeal: Callable[..., Appeal]
) -> None:
    appeal = make_appeal()
    appeal.text = "小区老人多，想请人来讲讲防诈骗，我电话13912345678"
    _fresh(session)
    secretary = browser_for("secretary")
    page = secretary.get(f"/console/appeals/{appeal.public_id}").get_data(as_text=True)
    assert "需要共建资源" in page
    done = secretary.post(f"/console/cobuilding/needs/from-appeal/{appeal.public_id}",
                          data={"csrf_token": csrf_of(page), "title": "防诈骗宣讲进小区",
                                "beneficiaries": "60"})  # fmt: skip
    assert done.status_code == 303
    _fresh(session)
    need = session.scalar(select(CobuildingNeed).where(CobuildingNeed.appeal_id == appeal.id))
    assert (need.source, need.title, need.beneficiaries) == ("appeal", "防诈骗宣讲进小区", 60)
    assert "13912345678" not in need.description
    shown = secretary.get(done.headers["Location"]).get_data(as_text=True)
    assert "民意诉求转入" in shown
    assert appeal.number in shown


def test_a_unit_cannot_see_or_accept_another_units_order_by_url(
    session: Session, cob: Cob, sign_in_staff: Callable[[int], FlaskClient], browser_for: Any
) -> None:
    order_id = _order_id(_place(browser_for("g1_leader"), cob.lecture.id))
    company = sign_in_staff(cob.company_login.id)
    seen = company.get(f"/console/cobuilding/orders/{order_id}")
    assert seen.status_code == 403
    assert "这张共建订单不在您的范围内" in seen.get_data(as_text=True)
    assert f"共建订单 {order_id}" not in company.get("/console/cobuilding/orders").get_data(as_text=True)
    token = csrf_of(company.get("/console/cobuilding/orders").get_data(as_text=True))
    accepted = company.post(f"/console/cobuilding/orders/{order_id}/accept", data={"csrf_token": token})
    assert accepted.status_code == 403
    _fresh(session)
    assert session.get(CobuildingOrder, order_id).status == "placed"
    # A grid leader of another grid cannot open it either.
    assert browser_for("g3_leader").get(f"/console/cobuilding/orders/{order_id}").status_code == 403


def test_decline_without_a_reason_is_refused_in_chinese_and_nothing_is_saved(
    session: Session, cob: Cob, sign_in_staff: Callable[[int], FlaskClient], browser_for: Any
) -> None:
    order_id = _order_id(_place(browser_for("g1_leader"), cob.lecture.id, quantity=2))
    school = sign_in_staff(cob.school_login.id)
    page = f"/console/cobuilding/orders/{order_id}"
    refused = _post(school, page, f"{page}/decline", reason="  ")
    assert refused.status_code == 422
    assert "请填写婉拒原因" in refused.get_data(as_text=True)
    short = _post(school, page, f"{page}/decline", reason="忙")
    assert short.status_code == 400
    assert "婉拒须写明原因" in short.get_data(as_text=True)
    _fresh(session)
    order = session.get(CobuildingOrder, order_id)
    assert (order.status, order.decline_reason) == ("placed", None)
    assert session.get(CobuildingResource, cob.lecture.id).reserved == 2
    done = _post(school, page, f"{page}/decline", reason="本月心理老师外出培训")
    assert done.status_code == 303
    _fresh(session)
    assert session.get(CobuildingOrder, order_id).status == "declined"
    assert session.get(CobuildingResource, cob.lecture.id).reserved == 0  # the capacity is given back
    assert "本月心理老师外出培训" in school.get(page).get_data(as_text=True)


def test_order_steps_need_a_csrf_token(
    session: Session, cob: Cob, sign_in_staff: Callable[[int], FlaskClient], browser_for: Any
) -> None:
    order_id = _order_id(_place(browser_for("g1_leader"), cob.lecture.id))
    school = sign_in_staff(cob.school_login.id)
    forged = school.post(f"/console/cobuilding/orders/{order_id}/accept")
    assert forged.status_code == 400
    assert "CSRF" in forged.get_data(as_text=True)
    leader = browser_for("g1_leader")
    assert leader.post("/console/cobuilding/orders", data={"resource_id": cob.lecture.id}).status_code == 400
    _fresh(session)
    assert session.get(CobuildingOrder, order_id).status == "placed"
    assert session.scalar(select(func.count()).select_from(CobuildingOrder)) == 1


def test_over_capacity_is_refused_with_a_clear_chinese_message(session: Session, cob: Cob, browser_for: Any) -> None:
    leader = browser_for("g1_leader")
    _order_id(_place(leader, cob.lecture.id, quantity=2))
    page = leader.get(f"/console/cobuilding/resources/{cob.lecture.id}").get_data(as_text=True)
    assert "0 / 2场" in page
    refused = leader.post("/console/cobuilding/orders",
                          data={"csrf_token": csrf_of(page), "resource_id": cob.lecture.id, "quantity": 1})  # fmt: skip
    assert refused.status_code == 409
    assert "超出剩余数量：还剩 0场" in refused.get_data(as_text=True)
    _fresh(session)
    assert session.scalar(select(func.count()).select_from(CobuildingOrder)) == 1


def test_an_order_runs_its_course_with_the_deadline_shown_and_is_evaluated(
    session: Session, cob: Cob, clock: Any, sign_in_staff: Callable[[int], FlaskClient], browser_for: Any
) -> None:
    leader = browser_for("g1_leader")
    order_id = _order_id(_place(leader, cob.lecture.id))
    page = f"/console/cobuilding/orders/{order_id}"
    school = sign_in_staff(cob.school_login.id)
    listed = school.get("/console/cobuilding/orders").get_data(as_text=True)
    assert f"共建订单 {order_id}" in listed
    assert "待接单" in listed
    assert "剩余" in listed
    html = school.get(page).get_data(as_text=True)
    assert 'id="do-accept"' in html
    assert 'id="do-decline"' in html
    assert 'id="do-cancel"' not in html  # only the requester withdraws
    assert _post(school, page, f"{page}/accept").status_code == 303
    when = (clock.local_now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    assert _post(school, page, f"{page}/schedule", at=when).status_code == 303
    assert _post(school, page, f"{page}/deliver").status_code == 303
    assert _post(school, page, f"{page}/confirm").status_code == 303
    assert "已交付" in leader.get(page).get_data(as_text=True)
    assert _post(leader, page, f"{page}/confirm").status_code == 303
    assert "双方已确认" in leader.get(page).get_data(as_text=True)
    bad_score = _post(leader, page, f"{page}/evaluate", score="9")
    assert bad_score.status_code == 422
    assert "评分应为 1 到 5" in bad_score.get_data(as_text=True)
    assert (
        _post(leader, page, f"{page}/evaluate", score="5", text="孩子们很喜欢", beneficiaries="35").status_code == 303
    )
    _fresh(session)
    order = session.get(CobuildingOrder, order_id)
    assert (order.status, order.score, order.beneficiaries) == ("evaluated", 5, 35)
    evaluations = school.get("/console/cobuilding/evaluations").get_data(as_text=True)
    assert "孩子们很喜欢" in evaluations
    assert "5 / 5" in evaluations
    # A step that is no longer allowed is refused, not replayed.
    again = _post(school, page, f"{page}/accept")
    assert again.status_code == 403
    _fresh(session)
    steps = list(session.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "cobuilding_order")))
    assert steps == ["cob_order_place", "cob_order_accept", "cob_order_schedule", "cob_order_deliver",
                     "cob_order_confirm", "cob_order_confirm", "cob_order_evaluate"]  # fmt: skip


def test_projects_are_started_updated_by_a_unit_taking_part_and_closed_with_a_result(
    session: Session, cob: Cob, sign_in_staff: Callable[[int], FlaskClient], browser_for: Any
) -> None:
    secretary = browser_for("secretary")
    none_linked = _post(secretary, "/console/cobuilding/projects", "/console/cobuilding/projects", title="暑期托管",
                        goal="双职工家庭孩子的暑期托管", starts_on="2026-07-01", ends_on="2026-08-31",
                        link_unit="", link_need="", link_resource="")  # fmt: skip
    assert none_linked.status_code == 422
    assert "至少要有一家成员单位参与" in none_linked.get_data(as_text=True)
    made = _post(secretary, "/console/cobuilding/projects", "/console/cobuilding/projects", title="暑期托管",
                 goal="双职工家庭孩子的暑期托管", starts_on="2026-07-01", ends_on="2026-08-31", budget_yuan="20000",
                 link_unit=str(cob.school.id), link_need="", link_resource=str(cob.lecture.id))  # fmt: skip
    assert made.status_code == 303
    page = made.headers["Location"]
    school = sign_in_staff(cob.school_login.id)
    assert "暑期托管" in school.get("/console/cobuilding/projects").get_data(as_text=True)
    assert _post(school, page, f"{page}/progress", text="已招募 12 名大学生志愿者", progress="40").status_code == 303
    company = sign_in_staff(cob.company_login.id)
    assert company.get(page).status_code == 403  # not taking part
    shown = secretary.get(page).get_data(as_text=True)
    assert "已招募 12 名大学生志愿者" in shown
    assert "40%" in shown
    no_result = _post(secretary, page, f"{page}/close", result="")
    assert no_result.status_code == 422
    assert "请填写项目成效" in no_result.get_data(as_text=True)
    closed = _post(secretary, page, f"{page}/close", result="托管 45 名孩子 8 周", photos="/media/p1.jpg")
    assert closed.status_code == 303
    final = secretary.get(page).get_data(as_text=True)
    assert "已结项" in final
    assert "托管 45 名孩子 8 周" in final
    assert "更新进展" not in final


def test_the_figures_page_shows_a_table_per_unit_and_svg_bars(
    session: Session, cob: Cob, clock: Any, sign_in_staff: Callable[[int], FlaskClient], browser_for: Any
) -> None:
    leader = browser_for("g1_leader")
    order_id = _order_id(_place(leader, cob.lecture.id))
    school = sign_in_staff(cob.school_login.id)
    page = f"/console/cobuilding/orders/{order_id}"
    _post(school, page, f"{page}/accept")
    month = clock.local_now().strftime("%Y-%m")
    secretary = browser_for("secretary")
    resp = secretary.get(f"/console/cobuilding/figures?month={month}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    row = html.split("星海实验中学")[1].split("</tr>")[0]
    assert re.findall(r"<td>(\d+)</td>", row)[:4] == ["1", "1", "1", "0"]  # listed, placed, accepted, declined
    assert "合计" in html
    assert html.count('<svg class="chart"') == 2
    assert re.search(r'<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="[1-9][\d.]*" class="bar-placed">', html)
    assert "style=" not in html  # the CSP allows no inline style
    assert "<script>" not in html
    assert secretary.get("/console/cobuilding/figures?month=2026-13").status_code == 400


def test_order_view_offers_only_the_steps_the_service_allows(session: Session, cob: Cob, browser_for: Any) -> None:
    leader = browser_for("g1_leader")
    order_id = _order_id(_place(leader, cob.lecture.id))
    html = leader.get(f"/console/cobuilding/orders/{order_id}").get_data(as_text=True)
    _fresh(session)
    order = session.get(CobuildingOrder, order_id)
    allowed = orders.allowed_actions(session, cob.org.staff["g1_leader"], order)
    assert allowed == ["cancel"]
    assert 'id="do-cancel"' in html
    assert 'id="do-accept"' not in html
    assert resources.KIND_LABELS["expertise"] in leader.get("/console/cobuilding/resources").get_data(as_text=True)


def test_long_lists_are_paged_keeping_their_filters(session: Session, cob: Cob, clock: Any, browser_for: Any) -> None:
    now = clock.now()
    for i in range(55):
        resources.publish(session, cob.org.staff["secretary"], cob.company, kind="goods", title=f"防汛沙袋 第{i}批",
                          description="防汛物资", capacity=10, available_from=now,
                          available_until=now + timedelta(days=30))  # fmt: skip
    _fresh(session)
    leader = browser_for("g1_leader")
    first = leader.get("/console/cobuilding/resources?kind=goods").get_data(as_text=True)
    assert "共 55 项" in first
    assert first.count("防汛沙袋 第") == 50
    assert 'id="prev-page"' not in first
    nxt = re.search(r'href="([^"]+)" id="next-page"', first)
    assert nxt, "the first page links to the next"
    second = leader.get(nxt.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert second.count("防汛沙袋 第") == 5
    assert "青少年心理健康讲座" not in second  # the kind filter is kept
    assert 'id="prev-page"' in second
    assert 'id="next-page"' not in second
    assert leader.get("/console/cobuilding/resources?page=0").status_code == 400
