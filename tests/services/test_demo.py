"""The demo community: the chat simulator's resident starts bound, so a first complaint reaches a grid."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from services import demo
from services.appeals import intake
from services.organisation.residents import get_by_openid


def test_the_chat_resident_is_bound_and_a_first_complaint_is_routed(app: Any, session: Session) -> None:
    demo.seed_all(session)
    session.commit()
    resident = get_by_openid(session, demo.DEMO_RESIDENT_OPENID)
    assert resident is not None
    org = demo.seed_org(session)
    assert (resident.building_id, resident.grid_id) == (org.buildings["E-LZ-1"].id, org.grids["G1"].id)
    with app.app_context():
        result = intake.handle_text(session, resident, "3幢楼道的灯坏了好几天了，晚上很黑")
    assert result.appeal is not None
    assert result.appeal.grid_id == org.grids["G1"].id
    assert result.appeal.status != "triaged"


def test_seeding_twice_keeps_a_rebinding(session: Session) -> None:
    demo.seed_all(session)
    resident = get_by_openid(session, demo.DEMO_RESIDENT_OPENID)
    org = demo.seed_org(session)
    resident.building_id = org.buildings["E-XY-1"].id
    first_id = resident.id
    session.flush()
    demo.seed_all(session)
    again = get_by_openid(session, demo.DEMO_RESIDENT_OPENID)
    assert (again.id, again.building_id) == (first_id, org.buildings["E-XY-1"].id)


def test_the_chat_command_plays_the_demo_resident() -> None:
    from cli import chat_command

    openid = next(p for p in chat_command.params if p.name == "openid")
    assert openid.default == demo.DEMO_RESIDENT_OPENID
