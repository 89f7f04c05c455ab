"""`hongguan seed-demo` shows volunteering: volunteers, two teams, party members linked to households, a call-up."""

from __future__ import annotations

from sqlalchemy import func, select

from models import Resident
from models.callup import Callup
from models.party import PartyHousehold, PartyMember
from models.volunteer import VolunteerTeam
from services.demo import seed_all
from services.party import members
from services.volunteering import callups


def test_seed_demo_includes_volunteering_once(session, clock):
    seed_all(session)
    seed_all(session)  # idempotent
    assert session.scalar(select(func.count()).select_from(VolunteerTeam)) == 2
    assert session.scalar(select(func.count()).select_from(Resident).where(Resident.is_volunteer.is_(True))) == 6
    verified = session.scalar(select(func.count()).select_from(PartyMember).where(PartyMember.status == "verified"))
    assert verified == 2
    assert session.scalar(select(func.count()).select_from(PartyHousehold)) == 6
    [callup] = session.scalars(select(Callup)).all()
    assert callup.status == "open"
    # Everyone seeded is in the call-up's audience: six volunteers and two party members.
    assert len(session.scalars(callups.audience_stmt(callup)).all()) == 8
    assert sum(c.covered for c in members.coverage(session, callup.community_id)) == 6
