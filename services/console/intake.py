"""Staff intake (代录): an appeal filed by staff for a resident who phoned or walked in, or a grid worker's own
patrol report (网格报事). It enters the same loop as a WeChat message: classification, routing, dispatch, KPIs,
with its channel recorded on the appeal and who filed it in the event log.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.appeal import Appeal
from models.org import Building, Estate, Grid
from models.resident import Resident
from models.staff import Staff
from nlp.classifier import Classifier, default_classifier
from services.appeals import routing, workflow
from services.appeals.records import create_appeal, record_event
from services.errors import Forbidden, NotFound

CHANNELS = {"phone": "电话来电", "walk_in": "来访", "patrol": "网格报事（巡查发现）"}
GRID_ROLES = ("grid_worker", "grid_leader")


def _resident_by_phone(session: Session, phone: str, name: str | None, building: Building) -> Resident:
    """The resident with this phone number, or a new profile for a person who has no WeChat contact yet."""
    found = session.scalar(
        select(Resident).where(Resident.phone == phone, Resident.erased_at.is_(None)).order_by(Resident.id).limit(1)
    )
    if found is not None:
        return found
    estate = session.get(Estate, building.estate_id)
    person = Resident(
        phone=phone,
        name=name,
        community_id=estate.community_id if estate is not None else None,
        grid_id=building.grid_id,
        building_id=building.id,
    )
    session.add(person)
    session.flush()
    return person


def file_on_behalf(
    session: Session,
    member: Staff,
    *,
    channel: str,
    text: str,
    building_id: int,
    phone: str | None = None,
    name: str | None = None,
    classifier: Classifier | None = None,
) -> Appeal:
    """File and route an appeal entered by a staff member; a grid worker files only for their own grid."""
    if channel not in CHANNELS:
        raise NotFound("未知的受理渠道")
    building = session.get(Building, building_id)
    if building is None:
        raise NotFound("没有这个楼栋")
    grid = session.get(Grid, building.grid_id)
    if member.role in GRID_ROLES and member.grid_id != building.grid_id:
        raise Forbidden("网格员只能为本网格的楼栋代录诉求")
    if member.role in workflow.COMMUNITY_ROLES and grid is not None and grid.community_id != member.community_id:
        raise Forbidden("只能为本社区的楼栋代录诉求")
    if channel == "patrol" and member.role not in GRID_ROLES:
        raise Forbidden("网格报事只能由网格员、网格长提交")
    resident = _resident_by_phone(session, phone, name, building) if phone else None
    appeal = create_appeal(session, resident=resident, text=text, channel=channel, building_id=building.id)
    record_event(
        session,
        appeal,
        "note",
        actor_type="staff",
        actor_id=member.id,
        note=f"{member.name}代录：{CHANNELS[channel]}",
        payload={"public": False, "intake": channel},
    )
    # Routing decides the unit exactly as for a WeChat message (the system dispatches, not the person filing).
    routing.route_appeal(session, appeal, (classifier or default_classifier()).classify(text))
    return appeal
