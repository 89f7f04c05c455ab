"""Fixtures for co-building: two member units of the demo community, each with a 兼职委员 login, and resources."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from infra import clock as clock_module
from models.cobuilding import CobuildingResource, CobuildingUnit
from models.staff import Staff
from services.appeals.calendar import seed_calendar
from services.cobuilding import resources, units


@dataclass
class Cob:
    """Handles to the seeded co-building rows."""

    school: CobuildingUnit
    company: CobuildingUnit
    school_login: Staff
    company_login: Staff
    lecture: CobuildingResource
    org: Any


def seed_cobuilding(s: Session, org: Any, *, capacity: int = 5) -> Cob:
    """Two units (a school and a state-owned company) with logins, and one lecture resource of the school."""
    seed_calendar(s)
    secretary = org.staff["secretary"]
    today = clock_module.now().date()
    school = units.create_unit(s, secretary, community_id=org.community.id, code="U-SCHOOL", name="星海实验中学",
                               kind="school", member_from=today - timedelta(days=30),
                               contact_name="陈老师", contact_phone="13812345678")  # fmt: skip
    company = units.create_unit(s, secretary, community_id=org.community.id, code="U-POWER", name="供电公司",
                                kind="state_owned", member_from=date(2026, 1, 1))  # fmt: skip
    logins = []
    for unit, name in ((school, "陈委员"), (company, "林委员")):
        login = Staff(name=name, role="member_unit", community_id=org.community.id, openid=f"o-unit-{unit.code}")
        s.add(login)
        s.flush()
        units.add_member(s, secretary, unit, name=name, serves_from=unit.member_from, staff_id=login.id,
                         phone="13900001111")  # fmt: skip
        logins.append(login)
    now = clock_module.now()
    lecture = resources.publish(s, secretary, school, kind="expertise", title="青少年心理健康讲座",
                                description="心理老师进社区，面向家长和孩子讲情绪管理", capacity=capacity,
                                available_from=now - timedelta(days=1), available_until=now + timedelta(days=60),
                                unit_label="场")  # fmt: skip
    return Cob(school, company, logins[0], logins[1], lecture, org)


@pytest.fixture
def cob(session: Session, org: Any, clock: Any) -> Cob:
    """The seeded co-building rows, committed."""
    result = seed_cobuilding(session, org)
    session.commit()
    return result


@pytest.fixture
def seed_cob() -> Any:
    """The seeding function itself, for tests that seed another database (PostgreSQL) or session."""
    return seed_cobuilding
