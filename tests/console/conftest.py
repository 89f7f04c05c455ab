"""Fixtures for the staff console tests: templates configured, tokens for demo staff, appeals in G1 and G3."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from console.auth import issue_staff_token
from jobs.outbox import commit_and_enqueue
from models.appeal import Appeal
from models.resident import Resident
from services.appeals.calendar import seed_calendar
from services.appeals.deadlines import seed_sla_policies
from services.appeals.records import create_appeal


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Configure the staff task template so staff notifications reach the sandbox."""
    return {
        **app_config,
        "WECHAT_TEMPLATE_STAFF_TASK": "tpl-staff-task",
        "WECHAT_TEMPLATE_NOTICE": "tpl-notice",
    }


@pytest.fixture
def token(session: Session, org: Any) -> Callable[[str], dict[str, str]]:
    """Authorization headers for a demo staff member, by key (g1_worker, pc_lh, secretary …)."""
    cache: dict[str, dict[str, str]] = {}

    def headers(key: str) -> dict[str, str]:
        if key not in cache:
            raw = issue_staff_token(session, org.staff[key].id)
            session.commit()
            cache[key] = {"Authorization": f"Bearer {raw}"}
        return cache[key]

    return headers


@pytest.fixture
def make_appeal(app: Flask, session: Session, org: Any, clock: Any) -> Callable[..., Appeal]:
    """Create a committed appeal from a resident living in `building` (E-LZ-1 is in G1, E-XY-2 in G3)."""
    seed_calendar(session)
    seed_sla_policies(session)
    session.commit()
    made = 0

    def make(building: str = "E-LZ-1", category: str = "sanitation", status: str = "triaged") -> Appeal:
        nonlocal made
        made += 1
        b = org.buildings[building]
        person = Resident(
            openid=f"o-res-console-{made}",
            subscribed=True,
            community_id=org.community.id,
            grid_id=b.grid_id,
            building_id=b.id,
            last_inbound_at=clock.now(),
        )
        session.add(person)
        session.flush()
        appeal = create_appeal(session, resident=person, text="楼下车库入口积水严重", channel="wechat")
        appeal.category, appeal.status = category, status
        with app.app_context():
            commit_and_enqueue(session)
        return appeal

    return make
