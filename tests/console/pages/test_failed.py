"""失败消息 page: operators list the pushes that failed and retry one; other roles are refused in Chinese."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot import menu
from models.appeal import Appeal
from models.audit import AuditEntry
from models.messages import InboundMessage
from tests.console.pages.conftest import csrf_of


def test_an_operator_retries_a_failed_push_and_the_appeal_is_filed(
    session: Session, browser_for: Any, wechat: Any, routed: None
) -> None:
    assert wechat.say("3幢电梯困人了") == menu.ACK_QUEUED
    inbound_id = session.scalar(select(InboundMessage.id))
    session.execute(update(InboundMessage).values(status="failed", attempts=5, last_error="RuntimeError: boom"))
    session.commit()
    secretary = browser_for("secretary")
    page = secretary.get("/console/failed").get_data(as_text=True)
    assert f"#{inbound_id}" in page
    assert "RuntimeError" in page
    assert "电梯困人" not in page  # the list shows no message content
    done = secretary.post(f"/console/failed/{inbound_id}/retry", data={"csrf_token": csrf_of(page)})
    assert done.status_code == 200
    assert "已重新排队处理" in done.get_data(as_text=True)
    wechat.run_jobs()
    assert session.scalar(select(InboundMessage.status)) == "handled"
    assert session.scalar(select(func.count()).select_from(Appeal)) == 1
    assert (
        session.scalar(select(AuditEntry.action).where(AuditEntry.object_type == "inbound_message")) == "retry_inbound"
    )


def test_a_grid_leader_may_not_see_failed_pushes(browser_for: Any) -> None:
    resp = browser_for("g1_leader").get("/console/failed")
    assert resp.status_code == 403
    assert "只有社区书记" in resp.get_data(as_text=True)
