"""Sign-in grants and console sessions as domain functions: single use, expiry, one approval per scene."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from services.console import sessions, signin
from services.errors import NotFound


def test_a_link_expires_and_is_spent_once(session: Session, org: Any, clock: Any) -> None:
    staff = org.staff["g1_worker"]
    late = signin.issue_link(session, staff.id, ttl=timedelta(minutes=1))
    fresh = signin.issue_link(session, staff.id)
    clock.advance(timedelta(minutes=2))
    assert signin.redeem_link(session, late) is None
    assert signin.redeem_link(session, fresh) is staff
    assert signin.redeem_link(session, fresh) is None
    assert signin.redeem_link(session, "") is None


def test_no_link_for_an_inactive_member(session: Session, org: Any) -> None:
    staff = org.staff["g1_worker"]
    staff.active = False
    session.flush()
    with pytest.raises(NotFound):
        signin.issue_link(session, staff.id)


def test_a_scene_is_approved_once_and_claimed_once(session: Session, org: Any, clock: Any) -> None:
    scene = signin.new_scene()
    secret = signin.open_qr(session, scene=scene, ticket="t-1", url="http://weixin.qq.com/q/t-1")
    assert signin.poll_qr(session, secret) == ("pending", None)
    leader = org.staff["g1_leader"]
    first = signin.approve_scan(session, event_key=scene, openid=leader.openid, ticket="t-1")
    assert first.approved
    second = signin.approve_scan(session, event_key=scene, openid=org.staff["secretary"].openid, ticket="t-1")
    assert not second.approved  # a second scan (anyone's) cannot take the waiting browser over
    assert signin.poll_qr(session, secret) == ("signed_in", leader)
    assert signin.poll_qr(session, secret) == ("expired", None)


def test_login_scenes_are_told_apart_from_building_scenes() -> None:
    assert signin.is_login_scene("login:abc")
    assert signin.is_login_scene("qrscene_login:abc")
    assert not signin.is_login_scene("b-e-lz-1")
    assert not signin.is_login_scene("qrscene_b-e-lz-1")


def test_sessions_resolve_move_the_idle_limit_and_revoke_only_their_own(session: Session, org: Any, clock: Any) -> None:
    leader, other = org.staff["g1_leader"], org.staff["g3_leader"]
    token, row = sessions.start(session, leader, method="link", idle=timedelta(hours=1), absolute=timedelta(hours=3))
    clock.advance(timedelta(minutes=50))
    assert sessions.resolve(session, token, idle=timedelta(hours=1)) == (row, leader)
    assert row.idle_expires_at == clock.now() + timedelta(hours=1)
    assert not sessions.revoke(session, other.id, row.id)
    assert [r.id for r in sessions.live_sessions(session, leader.id)] == [row.id]
    assert sessions.revoke(session, leader.id, row.id)
    session.expire_all()
    assert sessions.resolve(session, token) is None
    assert sessions.live_sessions(session, leader.id) == []
