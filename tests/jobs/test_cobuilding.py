"""The co-building order ladder through real RQ: the tick, stable-id jobs, one reminder and one escalation."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from jobs import cobuilding as cob_jobs
from services.appeals.calendar import seed_calendar
from services.cobuilding import orders, resources
from services.cobuilding.demo import seed_units


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Configure the staff task template so staff notifications reach the sandbox."""
    return {**app_config, "WECHAT_TEMPLATE_STAFF_TASK": "tpl-staff-task"}


def _titles(sandbox: Any, openid: str) -> list[str]:
    return [json.dumps(s["body"], ensure_ascii=False) for s in sandbox.sent(openid, "template")]


def _tick(app: Flask) -> int:
    with app.app_context():
        return cob_jobs.tick()


def test_an_unanswered_order_reminds_the_unit_then_escalates_once(app, session, org, clock, run_jobs, sandbox):
    from jobs.outbox import commit_and_enqueue

    seed_calendar(session)
    seeded = seed_units(session, org.community.id, org.staff["secretary"])
    unit, login = seeded.units["CB-LAW"], seeded.logins["CB-LAW"]
    now = clock.now()
    lawyer = resources.publish(session, org.staff["secretary"], unit, kind="expertise", title="法律咨询坐班",
                               description="律师解答纠纷", capacity=4, available_from=now,
                               available_until=now + timedelta(days=30))  # fmt: skip
    order = orders.place(session, org.staff["g1_leader"], resource_id=lawyer.id).order
    order_id = order.id
    with app.app_context():
        commit_and_enqueue(session)
    run_jobs()
    assert any("新订单待接单" in t for t in _titles(sandbox, login.openid))

    assert _tick(app) == 0
    clock.advance(timedelta(days=5))
    assert _tick(app) == 2
    assert _tick(app) == 2  # still unsent: handed again under the same job ids, not doubled
    run_jobs()
    assert _tick(app) == 0
    unit_titles = _titles(sandbox, login.openid)
    assert sum("即将超时" in t for t in unit_titles) == 1
    assert sum("已超时未接单" in t for t in unit_titles) == 1
    assert sum("超时未接单" in t for t in _titles(sandbox, org.staff["secretary"].openid)) == 1
    with app.app_context():
        assert cob_jobs.send_reminder(order_id, "overdue") == "already done"
