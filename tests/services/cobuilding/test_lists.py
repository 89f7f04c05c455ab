"""Member units, resources, needs and projects: who may create and see what, and the refusals."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from models.staff import Staff
from services.cobuilding import needs, projects, resources, units
from services.errors import DomainError, Forbidden, InvalidTransition, NotFound


def test_unit_rules(session, cob, org):
    secretary = org.staff["secretary"]
    with pytest.raises(Forbidden):
        units.create_unit(session, org.staff["g1_leader"], community_id=org.community.id, code="X", name="x",
                          kind="school", member_from=date(2026, 1, 1))  # fmt: skip
    with pytest.raises(DomainError):
        units.create_unit(session, secretary, community_id=org.community.id, code="X", name="x", kind="shop",
                          member_from=date(2026, 1, 1))  # fmt: skip
    with pytest.raises(DomainError):
        units.create_unit(session, secretary, community_id=org.community.id, code="X", name="x", kind="school",
                          member_from=date(2026, 2, 1), member_until=date(2026, 1, 1))  # fmt: skip
    with pytest.raises(DomainError):  # a login may act for one unit only
        units.add_member(session, secretary, cob.company, name="重复", serves_from=date(2026, 1, 1),
                         staff_id=cob.school_login.id)  # fmt: skip
    with pytest.raises(DomainError):  # only a member_unit login may act for a unit
        units.add_member(session, secretary, cob.company, name="网格长", serves_from=date(2026, 1, 1),
                         staff_id=org.staff["g1_leader"].id)  # fmt: skip
    assert units.unit_of(session, cob.school_login).id == cob.school.id
    assert units.unit_of(session, org.staff["g1_leader"]) is None
    assert units.is_member_on(cob.school, cob.school.member_from)
    assert not units.is_member_on(cob.school, cob.school.member_from - timedelta(days=1))
    view = units.unit_view(session, cob.school, full=False)
    assert view["contact_phone"] == "138****5678"
    assert view["members"][0]["phone"] == "139****1111"
    assert units.unit_view(session, cob.school, full=True)["contact_phone"] == "13812345678"


def test_a_unit_publishes_only_its_own_resources_and_sees_only_them(session, cob, clock):
    now = clock.now()
    window = {"available_from": now, "available_until": now + timedelta(days=3)}
    with pytest.raises(Forbidden):
        resources.publish(session, cob.company_login, cob.school, kind="goods", title="x", description="",
                          capacity=1, **window)  # fmt: skip
    with pytest.raises(DomainError):
        resources.publish(session, cob.school_login, cob.school, kind="goods", title="x", description="",
                          capacity=0, **window)  # fmt: skip
    with pytest.raises(DomainError):
        resources.publish(session, cob.school_login, cob.school, kind="goods", title="x", description="",
                          capacity=1, available_from=now, available_until=now)  # fmt: skip
    own = resources.publish(session, cob.company_login, cob.company, kind="goods", title="灭火器", description="",
                            capacity=10, **window)  # fmt: skip
    seen = list(session.scalars(resources.visible(session, cob.company_login)))
    assert [r.id for r in seen] == [own.id]
    with pytest.raises(NotFound):
        resources.get(session, cob.company_login, cob.lecture.id)
    everyone = {r.id for r in session.scalars(resources.visible(session, cob.org.staff["g3_worker"]))}
    assert {own.id, cob.lecture.id} <= everyone


def test_needs_from_staff_appeals_and_deliberations(session, cob, org):
    leader = org.staff["g1_leader"]
    need = needs.post(session, leader, title="楼道缺灭火器", beneficiaries=60, wanted_by=date(2026, 12, 31))
    assert (need.source, need.grid_id) == ("staff", leader.grid_id)
    with pytest.raises(Forbidden):
        needs.post(session, leader, title="x", grid_id=org.grids["G2"].id)
    with pytest.raises(Forbidden):
        needs.post(session, cob.school_login, title="x")
    with pytest.raises(DomainError):
        needs.post(session, leader, title="x", appeal_public_id="abcdefgh1", deliberation_ref="议-1")
    talk = needs.post(session, org.staff["secretary"], title="议事会决定建充电棚", deliberation_ref="YS-2026-11")
    assert talk.source == "deliberation"
    # Grid staff see their grid's needs and the community-wide ones, not another grid's.
    other = needs.post(session, org.staff["g2_leader"], title="第二网格的需求")
    visible = {n.id for n in session.scalars(needs.visible(session, leader))}
    assert need.id in visible
    assert talk.id in visible
    assert other.id not in visible
    needs.close(session, leader, need, met=True)
    assert need.status == "met"
    with pytest.raises(DomainError):
        needs.close(session, leader, need, met=False)


def test_project_rules(session, cob, org):
    secretary = org.staff["secretary"]
    with pytest.raises(Forbidden):
        projects.create(session, org.staff["g1_leader"], title="x", goal="", starts_on=date(2026, 1, 1),
                        ends_on=date(2026, 2, 1))  # fmt: skip
    with pytest.raises(DomainError):
        projects.create(session, secretary, title="x", goal="", starts_on=date(2026, 2, 1), ends_on=date(2026, 1, 1))
    with pytest.raises(NotFound):  # the resource is not the unit's
        projects.create(session, secretary, title="x", goal="", starts_on=date(2026, 1, 1),
                        ends_on=date(2026, 2, 1), links=[(cob.company.id, None, cob.lecture.id)])  # fmt: skip
    p = projects.create(session, secretary, title="护苗行动", goal="青少年心理关爱", starts_on=date(2026, 11, 1),
                        ends_on=date(2027, 1, 31), budget_yuan=5000,
                        links=[(cob.school.id, None, cob.lecture.id)])  # fmt: skip
    with pytest.raises(NotFound):  # a unit not taking part cannot report progress
        projects.report_progress(session, cob.company_login, p, text="x", progress=10)
    projects.report_progress(session, cob.school_login, p, text="第一场讲座", progress=30)
    with pytest.raises(DomainError):
        projects.report_progress(session, cob.school_login, p, text="x", progress=101)
    with pytest.raises(DomainError):
        projects.close(session, secretary, p, result="  ", photos=[])
    projects.close(session, secretary, p, result="覆盖 300 名学生", photos=["media-1"])
    with pytest.raises(InvalidTransition):
        projects.close(session, secretary, p, result="again", photos=[])
    view = projects.view(session, p)
    assert (view["status"], view["progress"], len(view["updates"])) == ("closed", 100, 1)
    seen = [x.id for x in session.scalars(projects.visible(session, cob.company_login))]
    assert seen == []


def test_a_lapsed_unit_login_acts_for_no_unit(session, cob):
    cob.school.active = False
    session.flush()
    assert units.unit_of(session, cob.school_login) is None
    assert isinstance(cob.school_login, Staff)
