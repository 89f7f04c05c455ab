"""jobs/inbound.py: a follower's profile fetch keeps the unionid WeChat's user info returns."""

from __future__ import annotations

from sqlalchemy import select

from jobs.inbound import sync_profile
from models import Resident

OPENID = "oFollowerWithUnion00000000001"


def test_the_profile_fetch_keeps_the_followers_unionid(app, session, sandbox):
    session.add_all([Resident(openid=OPENID, subscribed=True), Resident(openid="oFollowerNoUnion", subscribed=True)])
    session.commit()
    sandbox.set_unionid(OPENID, "ounion-follower-1")
    with app.app_context():
        for resident_id in session.scalars(select(Resident.id).order_by(Resident.id)).all():
            assert sync_profile(resident_id) == "ok"
    session.expire_all()
    rows = session.execute(select(Resident.openid, Resident.unionid).order_by(Resident.id)).all()
    assert [tuple(r) for r in rows] == [(OPENID, "ounion-follower-1"), ("oFollowerNoUnion", None)]
