"""Editing co-building rows: a unit's particulars, a 兼职委员's console login, a resource held to what is ordered,
and the text search of the lists."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from models.staff import Staff
from services.cobuilding import orders, resources, units, views
from services.errors import DomainError, Forbidden
from tests.services.cobuilding.conftest import Cob


def test_a_coordinator_edits_a_unit_and_a_grid_leader_may_not(session: Session, cob: Cob) -> None:
    secretary, leader = cob.org.staff["secretary"], cob.org.staff["g1_leader"]
    with pytest.raises(Forbidden):
        units.update_unit(session, leader, cob.school, name="X", kind="school", member_from=date(2026, 1, 1))
    with pytest.raises(DomainError, match="结束日期早于开始日期"):
        units.update_unit(session, secretary, cob.school, name="星海实验中学", kind="school",
                          member_from=date(2026, 6, 1), member_until=date(2026, 1, 1))  # fmt: skip
    units.update_unit(session, secretary, cob.school, name="星海实验中学（初中部）", kind="school",
                      member_from=date(2026, 1, 1), contact_name="陈老师")  # fmt: skip
    assert (cob.school.name, cob.school.code) == ("星海实验中学（初中部）", "U-SCHOOL")


def test_a_member_without_a_login_gets_one_that_acts_for_the_unit_once(session: Session, cob: Cob) -> None:
    secretary = cob.org.staff["secretary"]
    member = units.add_member(session, secretary, cob.company, name="赵委员", serves_from=date(2026, 1, 1),
                              phone="13600001234")  # fmt: skip
    login = units.create_login(session, secretary, member)
    assert (login.role, login.community_id, member.staff_id) == ("member_unit", cob.company.community_id, login.id)
    assert units.unit_of(session, login).id == cob.company.id
    with pytest.raises(DomainError, match="已有登录账号"):
        units.create_login(session, secretary, member)
    with pytest.raises(Forbidden):
        units.create_login(session, cob.org.staff["g1_leader"], member)
    with pytest.raises(DomainError, match="没有这位兼职委员"):
        units.get_member(session, secretary, cob.school, member.id)


def test_a_resource_cannot_be_edited_below_what_is_ordered(session: Session, cob: Cob, clock: Any) -> None:
    orders.place(session, cob.org.staff["g1_leader"], resource_id=cob.lecture.id, quantity=3)
    fields: dict[str, Any] = {
        "title": "青少年心理健康讲座",
        "description": "",
        "unit_label": "场",
        "available_from": clock.now(),
        "available_until": clock.now() + timedelta(days=30),
    }
    with pytest.raises(DomainError, match="已被订走的 3场"):
        resources.update(session, cob.school_login, cob.lecture, capacity=2, **fields)
    with pytest.raises(Forbidden):
        resources.update(session, cob.company_login, cob.lecture, capacity=9, **fields)
    resources.update(session, cob.school_login, cob.lecture, capacity=3, **fields)
    assert (cob.lecture.capacity, cob.lecture.reserved) == (3, 3)
    assert not session.scalars(resources.orderable(resources.visible(session, cob.school_login), clock.now())).all()


def test_the_lists_search_every_word_in_title_and_description(session: Session, cob: Cob) -> None:
    leader: Staff = cob.org.staff["g1_leader"]
    found = views.resource_list(session, leader, kind=None, orderable=False, unit_id=None, limit=10, offset=0,
                                q="心理 家长")  # fmt: skip
    assert [r["title"] for r in found["items"]] == ["青少年心理健康讲座"]
    missed = views.resource_list(session, leader, kind=None, orderable=False, unit_id=None, limit=10, offset=0,
                                 q="心理 消防")  # fmt: skip
    assert missed["total"] == 0
