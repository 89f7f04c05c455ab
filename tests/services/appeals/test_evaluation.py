"""The resident's side: rating (满意/基本满意/不满意), chase limit, reopen window, withdraw, auto-close."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.clock import LOCAL_TZ, local_text
from jobs.outbox import commit_and_enqueue
from models.appeal import Appeal, AppealEvent, AppealSupporter
from models.deadlines import Reminder
from models.resident import Resident
from services.appeals import evaluation, handling, workflow
from services.appeals.records import create_appeal
from services.appeals.workflow import Actor
from services.errors import Conflict, DomainError, Forbidden, InvalidTransition, RateLimited


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Configure the staff task template so staff notifications reach the sandbox."""
    return {
        **app_config,
        "WECHAT_TEMPLATE_STAFF_TASK": "tpl-staff-task",
        "WECHAT_TEMPLATE_NOTICE": "tpl-notice",
    }


@pytest.fixture(autouse=True)
def app_context(app: Any) -> Any:
    """Commit-and-enqueue needs the app (its Redis) like a request or a job would."""
    with app.app_context():
        yield


def staff(org: Any, key: str) -> Actor:
    member = org.staff[key]
    return Actor("staff", member.id, member.role)


def resident(session: Session, org: Any, name: str) -> Resident:
    b = org.buildings["E-LZ-1"]
    person = Resident(
        openid=f"o-res-{name}",
        subscribed=True,
        community_id=org.community.id,
        grid_id=b.grid_id,
        building_id=b.id,
        last_inbound_at=datetime.now(tz=LOCAL_TZ),
    )
    session.add(person)
    session.flush()
    return person


def staff_sends(sandbox: Any, org: Any, key: str, title: str) -> int:
    openid = org.staff[key].openid
    return sum(title in json.dumps(s["body"], ensure_ascii=False) for s in sandbox.sent(openid, "template"))


@pytest.fixture
def alice(session: Session, org: Any, clock: Any) -> Resident:
    return resident(session, org, "alice")


def in_progress(session: Session, org: Any, who: Resident) -> Appeal:
    appeal = create_appeal(session, resident=who, text="小区路灯坏了三盏", channel="wechat")
    appeal.category = "sanitation"
    workflow.dispatch(session, appeal, actor=workflow.SYSTEM, handler_type="grid")
    workflow.accept(session, appeal, actor=staff(org, "g1_worker"))
    workflow.start(session, appeal, actor=staff(org, "g1_worker"))
    return appeal


def resolved(session: Session, org: Any, who: Resident) -> Appeal:
    appeal = in_progress(session, org, who)
    workflow.resolve(session, appeal, actor=staff(org, "g1_worker"), reply="已更换灯泡")
    return appeal


def test_parse_rating() -> None:
    assert evaluation.parse_rating("1") == "satisfied"
    assert evaluation.parse_rating(" 2。") == "basically_satisfied"
    assert evaluation.parse_rating("不满意") == "unsatisfied"
    assert evaluation.parse_rating("satisfied") == "satisfied"
    assert evaluation.parse_rating("4") is None
    assert evaluation.parse_rating("") is None


def test_rating_closes_once(session: Session, org: Any, alice: Resident) -> None:
    appeal = resolved(session, org, alice)
    with pytest.raises(DomainError, match="评价应为"):
        evaluation.rate(session, appeal, resident_id=alice.id, rating="5")
    evaluation.rate(session, appeal, resident_id=alice.id, rating="2", comment="慢了点")
    assert (appeal.status, appeal.closure_code, appeal.rating) == (
        "closed",
        "resolved",
        "basically_satisfied",
    )
    assert appeal.rating_comment == "慢了点"
    rate_event = session.scalar(
        select(AppealEvent).where(AppealEvent.appeal_id == appeal.id, AppealEvent.action == "rate")
    )
    assert rate_event.payload == {"rating": "basically_satisfied"}
    assert rate_event.actor_type == "resident"
    auto = session.scalar(select(Reminder).where(Reminder.appeal_id == appeal.id, Reminder.level == "auto_close"))
    assert auto.cancelled_at is not None  # the auto-close step will not fire
    with pytest.raises(Conflict):
        evaluation.rate(session, appeal, resident_id=alice.id, rating="1")


def test_unsatisfied_rating_alerts_the_grid_leader(
    session: Session, org: Any, alice: Resident, run_jobs: Any, sandbox: Any
) -> None:
    appeal = resolved(session, org, alice)
    evaluation.rate(session, appeal, resident_id=alice.id, rating="3")
    commit_and_enqueue(session)
    run_jobs()
    assert staff_sends(sandbox, org, "g1_leader", "不满意") == 1
    assert any("重办" in s["body"]["text"]["content"] for s in sandbox.sent(alice.openid, "custom"))


def test_auto_close_and_late_rating(session: Session, org: Any, alice: Resident, clock: Any) -> None:
    appeal = resolved(session, org, alice)
    clock.advance(timedelta(hours=71))
    assert workflow.auto_close(session, appeal) is False  # the window is still open
    clock.advance(timedelta(hours=1))
    assert workflow.auto_close(session, appeal) is True
    assert (appeal.status, appeal.closure_code, appeal.rating) == ("closed", "resolved", None)
    close_event = session.scalar(
        select(AppealEvent).where(AppealEvent.appeal_id == appeal.id, AppealEvent.action == "close")
    )
    assert close_event.actor_type == "system"
    assert close_event.reason_code == "resolved"
    assert workflow.auto_close(session, appeal) is False  # idempotent
    # The resident may still rate it within the reopen window; the status stays closed.
    evaluation.rate(session, appeal, resident_id=alice.id, rating="satisfied")
    assert (appeal.status, appeal.rating) == ("closed", "satisfied")


def test_chase_once_per_period(
    session: Session, org: Any, alice: Resident, clock: Any, run_jobs: Any, sandbox: Any
) -> None:
    appeal = in_progress(session, org, alice)
    bob = resident(session, org, "bob")
    with pytest.raises(Forbidden):
        evaluation.chase(session, appeal, resident_id=bob.id)
    evaluation.chase(session, appeal, resident_id=alice.id)
    assert appeal.last_chased_at == clock.now()
    clock.advance(timedelta(hours=23))
    with pytest.raises(RateLimited) as limited:
        evaluation.chase(session, appeal, resident_id=alice.id)
    assert limited.value.details["retry_after_seconds"] == 3600
    clock.advance(timedelta(hours=1))
    evaluation.chase(session, appeal, resident_id=alice.id)
    # A supporter ("me too") may chase too, but the period is per appeal.
    session.add(AppealSupporter(appeal_id=appeal.id, resident_id=bob.id))
    session.flush()
    with pytest.raises(RateLimited):
        evaluation.chase(session, appeal, resident_id=bob.id)
    commit_and_enqueue(session)
    run_jobs()
    assert staff_sends(sandbox, org, "g1_worker", "居民催办") == 2  # the assignee is reminded each time
    chases = session.scalars(
        select(AppealEvent).where(AppealEvent.appeal_id == appeal.id, AppealEvent.action == "chase")
    ).all()
    assert len(chases) == 2
    workflow.resolve(session, appeal, actor=staff(org, "g1_worker"), reply="修好了")
    clock.advance(timedelta(days=2))
    with pytest.raises(InvalidTransition, match="rate it"):
        evaluation.chase(session, appeal, resident_id=alice.id)


def test_reopen_within_window_starts_a_new_round(session: Session, org: Any, alice: Resident, clock: Any) -> None:
    appeal = resolved(session, org, alice)
    evaluation.rate(session, appeal, resident_id=alice.id, rating="unsatisfied")
    clock.advance(timedelta(days=3))
    with pytest.raises(Forbidden):
        evaluation.reopen(session, appeal, resident_id=alice.id + 1000, reason="没修好")
    with pytest.raises(DomainError, match="仍未解决"):
        evaluation.reopen(session, appeal, resident_id=alice.id, reason=" ")
    evaluation.reopen(session, appeal, resident_id=alice.id, reason="灯又灭了")
    assert appeal.status == "dispatched"
    assert appeal.reopen_count == 1
    assert appeal.rating is None
    assert appeal.closure_code is None
    assert appeal.dispatched_at == clock.now()
    reopen_event = session.scalar(
        select(AppealEvent).where(AppealEvent.appeal_id == appeal.id, AppealEvent.action == "reopen")
    )
    assert (reopen_event.from_status, reopen_event.to_status) == ("closed", "dispatched")
    assert reopen_event.payload["grid_id"] == org.grids["G1"].id
    assert reopen_event.payload["due_at"]
    live = session.scalars(
        select(Reminder).where(
            Reminder.appeal_id == appeal.id, Reminder.sent_at.is_(None), Reminder.cancelled_at.is_(None)
        )
    ).all()
    assert {r.round for r in live} == {2}
    assert len(live) == 5
    # The same worker is still the assignee and may accept again.
    workflow.accept(session, appeal, actor=staff(org, "g1_worker"))


def test_reopen_window_and_closure_code(session: Session, org: Any, alice: Resident, clock: Any) -> None:
    appeal = resolved(session, org, alice)
    evaluation.rate(session, appeal, resident_id=alice.id, rating="1")
    clock.advance(timedelta(days=7, minutes=1))
    with pytest.raises(InvalidTransition) as late:
        evaluation.reopen(session, appeal, resident_id=alice.id, reason="又坏了")
    assert late.value.code == "reopen_window_passed"
    other = in_progress(session, org, alice)
    evaluation.withdraw(session, other, resident_id=alice.id)
    with pytest.raises(InvalidTransition, match="已撤回"):
        evaluation.reopen(session, other, resident_id=alice.id, reason="又坏了")


def test_withdraw_tells_the_unit(session: Session, org: Any, alice: Resident, run_jobs: Any, sandbox: Any) -> None:
    appeal = in_progress(session, org, alice)
    with pytest.raises(Forbidden):
        evaluation.withdraw(session, appeal, resident_id=alice.id + 1000)
    evaluation.withdraw(session, appeal, resident_id=alice.id, reason="不需要了")
    assert (appeal.status, appeal.closure_code) == ("closed", "withdrawn")
    commit_and_enqueue(session)
    run_jobs()
    assert staff_sends(sandbox, org, "g1_worker", "撤回") == 1
    assert (
        session.scalars(select(Reminder).where(Reminder.appeal_id == appeal.id, Reminder.cancelled_at.is_(None))).all()
        == []
    )


# ---------------------------------------------------------------- the same actions answered in chat


def test_chat_rating_applies_only_while_an_appeal_awaits_one(session: Session, org: Any, alice: Resident) -> None:
    assert evaluation.answer_in_chat(session, alice.id, "1") is None  # nothing to rate: "1" is ordinary text
    appeal = resolved(session, org, alice)
    reply = evaluation.answer_in_chat(session, alice.id, "2")
    assert reply is not None
    assert appeal.number in reply
    assert "基本满意" in reply
    assert (appeal.status, appeal.rating) == ("closed", "basically_satisfied")
    assert evaluation.answer_in_chat(session, alice.id, "3") is None  # already rated: no second rating


def test_chat_chase_reopen_and_withdraw(session: Session, org: Any, alice: Resident, clock: Any) -> None:
    appeal = in_progress(session, org, alice)
    assert "已为您催办" in evaluation.answer_in_chat(session, alice.id, "催办")
    assert "刚催办过" in evaluation.answer_in_chat(
        session, alice.id, f"催办{appeal.number}"
    )  # rate-limited, not an error
    assert appeal.last_chased_at is not None

    workflow.resolve(session, appeal, actor=staff(org, "g1_worker"), reply="已更换灯泡")
    evaluation.answer_in_chat(session, alice.id, "3")
    assert appeal.status == "closed"
    reply = evaluation.answer_in_chat(session, alice.id, f"重办{appeal.number}")
    assert f"已重新交{handling.unit_name(session, appeal)}办理" in reply
    assert f"预计{local_text(appeal.due_at)}前办结" in reply  # the new deadline, in the one message sent
    assert (appeal.status, appeal.reopen_count) == ("dispatched", 1)

    reply = evaluation.answer_in_chat(session, alice.id, "撤回")
    assert "已撤回" in reply
    assert (appeal.status, appeal.closure_code) == ("closed", "withdrawn")
    assert "没有找到" in evaluation.answer_in_chat(session, alice.id, "催办")
    assert evaluation.answer_in_chat(session, alice.id, "楼道灯又坏了") is None  # an ordinary message


def test_chat_refusals_are_explained_in_chinese(session: Session, org: Any, alice: Resident, clock: Any) -> None:
    appeal = resolved(session, org, alice)
    evaluation.answer_in_chat(session, alice.id, "1")
    clock.advance(timedelta(days=evaluation.REOPEN_DAYS + 1))
    reply = evaluation.answer_in_chat(session, alice.id, f"重办{appeal.number}")
    assert reply is not None
    assert "重办期限" in reply
    assert not any("a" <= ch.lower() <= "z" for ch in reply.replace(appeal.number, ""))


def test_reopen_tells_the_unit_its_full_sign_in_deadline(
    session: Session, org: Any, alice: Resident, clock: Any, run_jobs: Any, sandbox: Any
) -> None:
    appeal = resolved(session, org, alice)
    evaluation.rate(session, appeal, resident_id=alice.id, rating="unsatisfied")
    evaluation.reopen(session, appeal, resident_id=alice.id, reason="灯又灭了")
    due = appeal.accept_due_at.astimezone(LOCAL_TZ)
    commit_and_enqueue(session)
    run_jobs()
    [message] = [
        s["body"]["data"]
        for s in sandbox.sent(org.staff["g1_worker"].openid, "template")
        if "重办" in s["body"]["data"]["thing1"]["value"]
    ]
    # The deadline has a slot of its own, date and time in full; only the note may be shortened.
    assert message["time4"]["value"] == f"{due.year}年{due:%m月%d日 %H:%M}"
    assert "签收时限" not in message["thing5"]["value"]


def test_a_chat_rating_answers_the_rater_once_and_still_tells_the_supporters(
    session: Session, org: Any, alice: Resident
) -> None:
    from models.outbox import PendingJob
    from services.notifications.notify import RESIDENT_JOB

    appeal = resolved(session, org, alice)
    bob = resident(session, org, "bob")
    session.add(AppealSupporter(appeal_id=appeal.id, resident_id=bob.id))
    session.flush()
    reply = evaluation.answer_in_chat(session, alice.id, "1")
    assert reply == evaluation.rated_text(appeal, "satisfied")
    close = session.scalar(select(AppealEvent).where(AppealEvent.appeal_id == appeal.id, AppealEvent.action == "close"))
    told = [
        j.args[0]
        for j in session.scalars(select(PendingJob).where(PendingJob.func == RESIDENT_JOB))
        if j.args[2] == f"appeal:{appeal.id}:ev{close.id}"
    ]
    assert told == [bob.id]  # the rater's answer is the chat reply; the supporter gets the closing notice
