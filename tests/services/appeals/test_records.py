"""create_appeal / record_event / supporters_of on the real database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import AppealEvent, Resident
from services.appeals.records import create_appeal, get_by_number, open_appeals_of, record_event


def test_create_appeal_numbers_and_logs(session: Session, org: Any, clock: Any) -> None:
    b = org.buildings["E-LZ-4"]
    r = Resident(openid="o-alice", community_id=org.community.id, building_id=b.id)
    session.add(r)
    session.flush()
    a = create_appeal(session, resident=r, text="楼道灯坏了", channel="wechat")
    session.commit()
    assert a.number == f"HG261120{a.id:07d}"
    assert a.status == "received"
    assert a.grid_id == org.grids["G2"].id
    assert a.community_id == org.community.id
    events = session.scalars(select(AppealEvent).where(AppealEvent.appeal_id == a.id)).all()
    assert [(e.action, e.to_status, e.payload) for e in events] == [
        ("create", "received", {"kind": "appeal", "channel": "wechat"})
    ]
    assert get_by_number(session, a.number.lower()) is a
    assert open_appeals_of(session, r.id) == [a]
    ev = record_event(session, a, "note", actor_type="resident", actor_id=r.id, note="补充")
    assert ev.id
    assert ev.created_at == clock.now()
