"""Notification rules: outbox intent, channel choice, subscribe grants and the idempotent delivery ledger."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq.job import JOB_ID_PATTERN
from sqlalchemy import select

from infra import clock as clock_module
from infra.web import get_db
from models import OutboundMessage, PendingJob, Resident, Staff
from services.errors import NotFound
from services.notifications import notify
from services.notifications.notify import AttemptResult, DeliveryInFlight, NotifySettings

SETTINGS = NotifySettings(
    window=timedelta(hours=48),
    cs_budget=5,
    notice_template="tpl-notice",
    staff_template="tpl-staff",
    miniapp_notice_template="tpl-mini",
)


def resident(session, **kw):
    values = {"openid": "oResident0001", "subscribed": True} | kw
    row = Resident(**values)
    session.add(row)
    session.flush()
    return row


# ---------------------------------------------------------------- intent


def test_notify_resident_defers_one_job_per_key(session, clock):
    r = resident(session)
    for _ in range(2):
        notify.notify_resident(session, r.id, "您的诉求已派单", key="appeal-7-dispatched", related=("appeal", 7))
    session.commit()
    (job,) = session.scalars(select(PendingJob)).all()
    assert job.func == "jobs.notifications.deliver_to_resident"
    assert job.args == [r.id, "您的诉求已派单", "appeal-7-dispatched", None, "appeal", 7]
    assert JOB_ID_PATTERN.fullmatch(job.job_id)
    assert job.job_id == notify.job_id_for(notify.resident_ledger_key(r.id, "appeal-7-dispatched"))


def test_a_broadcast_is_recorded_as_one_outbox_row_per_chunk_of_recipients(session, clock):
    ids = [resident(session, openid=f"oBroadcast{i:04d}").id for i in range(7)]
    shuffled = [ids[3], ids[0], *ids[4:], ids[1], ids[2], ids[0]]  # any order, one repeated
    assert (
        notify.notify_residents(session, shuffled, "【紧急通知】停水", key="notice-9", related=("notice", 9), chunk=3)
        == 7
    )
    # Recorded again (a retried request, a second publication call): nothing new.
    notify.notify_residents(session, ids, "【紧急通知】停水", key="notice-9", related=("notice", 9), chunk=3)
    session.commit()
    rows = session.scalars(select(PendingJob).order_by(PendingJob.id)).all()
    assert [r.func for r in rows] == [notify.BROADCAST_JOB] * 3
    assert [r.args[0] for r in rows] == [ids[0:3], ids[3:6], ids[6:7]]  # ascending ids, each once
    assert all(r.args[1:] == ["【紧急通知】停水", "notice-9", "notice", 9, n] for n, r in enumerate(rows))
    assert [r.job_id for r in rows] == [notify.broadcast_job_id("notice-9", n) for n in range(3)]
    assert all(JOB_ID_PATTERN.fullmatch(r.job_id) for r in rows)
    assert {r.queue for r in rows} == {notify.BROADCAST_QUEUE}
    assert notify.broadcast_job_id("notice-9", 0) != notify.broadcast_job_id("notice-90", 0)


def test_notify_resident_refuses_bad_input(session):
    r = resident(session)
    with pytest.raises(NotFound):
        notify.notify_resident(session, 9999, "x", key="k")
    with pytest.raises(ValueError, match="kind"):
        notify.notify_resident(session, r.id, "x", key="k", template={"kind": "sms"})
    with pytest.raises(ValueError, match="template_id"):
        notify.notify_resident(session, r.id, "x", key="k", template={"kind": "mp_subscribe"})
    with pytest.raises(ValueError, match="empty"):
        notify.notify_resident(session, r.id, "  ", key="k")
    with pytest.raises(ValueError, match="key"):
        notify.notify_resident(session, r.id, "x", key="k" * 121)
    assert session.scalars(select(PendingJob)).all() == []


def test_notify_staff_uses_the_urgent_queue_and_per_recipient_keys(session, org):
    leader, worker = org.staff["g1_leader"], org.staff["g1_worker"]
    fields = {"number": "A-0001", "deadline": "2026-11-20 18:00"}
    notify.notify_staff(session, leader.id, key="appeal-1-dispatched", title="新诉求", fields=fields, urgent=True)
    notify.notify_staff(session, worker.id, key="appeal-1-dispatched", title="新诉求", fields=fields)
    session.commit()
    jobs = {j.args[0]: j for j in session.scalars(select(PendingJob))}
    assert jobs[leader.id].queue == "urgent"
    assert jobs[worker.id].queue == "default"
    assert jobs[leader.id].args[-1] is True
    assert jobs[leader.id].job_id != jobs[worker.id].job_id
    with pytest.raises(NotFound):
        notify.notify_staff(session, 9999, key="k", title="t", fields={})


def test_job_ids_are_valid_for_rq_and_distinct_for_similar_keys():
    a = notify.job_id_for("resident-1:appeal/1")
    b = notify.job_id_for("resident-1:appeal:1")
    assert JOB_ID_PATTERN.fullmatch(a)
    assert JOB_ID_PATTERN.fullmatch(b)
    assert a != b


# ---------------------------------------------------------------- channel choice


def test_in_window_with_budget_prefers_customer_service_then_template_then_mini_program(session, clock):
    now = clock_module.now()
    r = resident(session, miniapp_openid="oMini0001", last_inbound_at=now - timedelta(hours=47))
    plan = notify.plan_resident(r, "处理完毕", None, SETTINGS, now=now, client_msg_id="c1")
    assert [a.channel for a in plan] == ["custom", "template", "mp_subscribe"]
    assert plan[0].content == {"text": "处理完毕"}
    assert plan[1].template_id == "tpl-notice"
    assert plan[1].content["data"] == {"thing1": "处理完毕", "time2": "2026-11-20 10:00"}
    assert plan[1].content["client_msg_id"] == "c1"
    assert plan[2].openid == "oMini0001"
    assert plan[2].template_id == "tpl-mini"


def test_window_expired_or_budget_spent_skips_customer_service(session, clock):
    now = clock_module.now()
    late = resident(session, last_inbound_at=now - timedelta(hours=48, seconds=1))
    spent = resident(session, openid="oResident0002", last_inbound_at=now, cs_sends_since_inbound=5)
    never = resident(session, openid="oResident0003")
    for r in (late, spent, never):
        assert [a.channel for a in notify.plan_resident(r, "x", None, SETTINGS, now=now)] == ["template"]
    bigger = NotifySettings(cs_budget=6, notice_template="tpl-notice")
    assert [a.channel for a in notify.plan_resident(spent, "x", None, bigger, now=now)] == [
        "custom",
        "template",
    ]


def test_unfollowed_or_erased_residents_get_no_official_account_messages(session, clock):
    now = clock_module.now()
    gone = resident(session, subscribed=False, unsubscribed_at=now, miniapp_openid="oMini0002", last_inbound_at=now)
    assert [a.channel for a in notify.plan_resident(gone, "x", None, SETTINGS, now=now)] == ["mp_subscribe"]
    erased = resident(session, openid="oResident0004", erased_at=now, miniapp_openid="oMini0003")
    assert notify.plan_resident(erased, "x", None, SETTINGS, now=now) == []
    no_mini_template = NotifySettings(notice_template="tpl-notice")
    assert notify.plan_resident(gone, "x", None, no_mini_template, now=now) == []


def test_caller_templates_are_used_as_given(session, clock):
    now = clock_module.now()
    r = resident(session, miniapp_openid="oMini0004")
    booking = {
        "kind": "mp_subscribe",
        "template_id": "tpl-booking",
        "data": {"thing1": "活动室"},
        "page": "p/1",
    }
    plan = notify.plan_resident(r, "预约成功", booking, SETTINGS, now=now)
    assert [(a.channel, a.template_id) for a in plan] == [("mp_subscribe", "tpl-booking")]
    assert plan[0].content == {"data": {"thing1": "活动室"}, "page": "p/1", "state": "formal"}
    biz = {"kind": "subscribe", "template_id": "tpl-biz"}
    assert [a.channel for a in notify.plan_resident(r, "x", biz, SETTINGS, now=now)] == [
        "subscribe",
        "mp_subscribe",
    ]
    tpl = {"template_id": "tpl-appeal", "data": {"character_string1": "A-1"}, "url": "https://x/a/1"}
    (template, _mini) = notify.plan_resident(r, "x", tpl, SETTINGS, now=now)
    assert template.template_id == "tpl-appeal"
    assert template.payload() == {"data": {"character_string1": "A-1"}, "url": "https://x/a/1"}


def test_staff_template_data_maps_names_keywords_and_extras():
    data = notify.staff_template_data(
        "路灯不亮",
        {"number": "A-0007", "deadline": "2026-11-21 18:00", "thing3": "湖西路12号", "来源": "公众号"},
        urgent=True,
    )
    assert data == {
        "thing1": "【紧急】路灯不亮",
        "character_string2": "A-0007",
        "time4": "2026-11-21 18:00",
        "thing3": "湖西路12号",
        "thing5": "来源：公众号",
    }
    both = notify.staff_template_data("t", {"note": "请尽快", "楼栋": "3幢"})
    assert both["thing5"] == "请尽快；楼栋：3幢"


def test_staff_plan_needs_an_active_staff_with_openid(session, org):
    staff = org.staff["g1_worker"]
    (attempt,) = notify.plan_staff(staff, "新诉求", {"number": "A-1"}, SETTINGS, client_msg_id="c")
    assert attempt.openid == staff.openid
    assert attempt.template_id == "tpl-staff"
    assert attempt.content["data"]["character_string2"] == "A-1"
    staff.active = False
    assert notify.plan_staff(staff, "t", {}, SETTINGS) == []
    no_openid = Staff(name="临时", role="grid_worker", openid=None)
    assert notify.plan_staff(no_openid, "t", {}, SETTINGS) == []


def test_window_bookkeeping(session, clock):
    r = resident(session, last_inbound_at=clock_module.now() - timedelta(hours=1), cs_sends_since_inbound=2)
    notify.note_cs_send(session, r.id)
    session.refresh(r)
    assert r.cs_sends_since_inbound == 3
    notify.note_window_closed(session, r.id, budget=5)
    session.refresh(r)
    assert r.cs_sends_since_inbound == 5


# ---------------------------------------------------------------- grants


def _grant_lifecycle(session):
    assert notify.record_subscribe_grant(session, "oMini", "tplA") == 1
    assert notify.record_subscribe_grant(session, "oMini", "tplA", count=2) == 3
    assert notify.remaining_grants(session, "oMini", "tplB") == 0
    assert notify.take_subscribe_grant(session, "oMini", "tplA") is True
    assert notify.remaining_grants(session, "oMini", "tplA") == 2
    notify.return_subscribe_grant(session, "oMini", "tplA")
    assert notify.remaining_grants(session, "oMini", "tplA") == 3
    notify.clear_subscribe_grant(session, "oMini", "tplA")
    assert notify.take_subscribe_grant(session, "oMini", "tplA") is False
    assert notify.take_subscribe_grant(session, "oMini", "tplB") is False
    with pytest.raises(ValueError, match="positive"):
        notify.record_subscribe_grant(session, "oMini", "tplA", count=0)


def test_subscribe_grants_count_up_and_down_sqlite(session, clock):
    _grant_lifecycle(session)


@pytest.mark.postgres
def test_subscribe_grants_count_up_and_down_postgres(pg_app, clock):
    s = get_db(pg_app).session()
    try:
        _grant_lifecycle(s)
        s.commit()
    finally:
        s.close()


# ---------------------------------------------------------------- the ledger


def _claim_lifecycle(session):
    now = clock_module.now()
    key = "resident-1:appeal-1-closed"
    ledger = notify.claim_delivery(session, key, now=now, related=("appeal", 1))
    assert ledger.status == "sending"
    assert ledger.related_type == "appeal"
    session.commit()
    with pytest.raises(DeliveryInFlight):
        notify.claim_delivery(session, key, now=now + timedelta(seconds=30))
    session.rollback()
    attempt = notify.Attempt("custom", "oX", None, {"text": "hi"})
    notify.finish_delivery(session, ledger, [AttemptResult(attempt, 45015, "out of window")], sent=False)
    session.commit()
    again = notify.claim_delivery(session, key, now=now + timedelta(minutes=1))
    assert again.id == ledger.id
    assert again.status == "sending"
    template = notify.Attempt("template", "oX", "tpl", {"data": {"thing1": "hi"}})
    notify.finish_delivery(
        session,
        again,
        [AttemptResult(attempt, 45015, "out of window"), AttemptResult(template, 0, "ok", 42)],
        sent=True,
    )
    session.commit()
    assert notify.claim_delivery(session, key, now=now + timedelta(hours=1)) is None
    rows = session.scalars(select(OutboundMessage).order_by(OutboundMessage.id)).all()
    # One keyed row (sent by template) and one unkeyed row per failed call (the first run's and the second's).
    assert [(r.channel, r.status, r.errcode, r.idempotency_key) for r in rows] == [
        ("template", "sent", 0, key),
        ("custom", "failed", 45015, None),
        ("custom", "failed", 45015, None),
    ]
    assert rows[0].wx_msgid == 42
    assert rows[0].payload == {"data": {"thing1": "hi"}}


def test_claim_finish_and_reclaim_sqlite(session, clock):
    _claim_lifecycle(session)


@pytest.mark.postgres
def test_claim_finish_and_reclaim_postgres(pg_app, clock):
    s = get_db(pg_app).session()
    try:
        _claim_lifecycle(s)
    finally:
        s.close()


def test_a_claim_abandoned_mid_send_is_taken_over_when_stale(session, clock):
    key = "staff-1:k"
    first = notify.claim_delivery(session, key, now=clock_module.now())
    session.commit()
    clock.advance(notify.IN_FLIGHT_STALE + timedelta(seconds=1))
    second = notify.claim_delivery(session, key, now=clock_module.now())
    assert second.id == first.id
    assert second.created_at == clock_module.now()
    notify.finish_delivery(session, second, [], sent=False, reason="staff not found")
    session.commit()
    assert notify.delivery_status(session, key).channel == "none"
    assert notify.delivery_status(session, key).errmsg == "staff not found"


def test_a_new_claim_names_its_first_call_in_the_insert_and_a_reclaim_does_not(session, clock):
    call = notify.Attempt("custom", "oFirstCall01", None, {"text": "停水通知"})
    key = "resident-1:first-call"
    row = notify.claim_delivery(session, key, now=clock_module.now(), calling=call)
    assert (row.status, row.channel, row.openid, row.payload) == ("sending", "custom", "oFirstCall01", call.payload())
    assert notify.is_marked(row, call)  # the job commits and calls WeChat with no UPDATE in between
    notify.finish_delivery(session, row, [AttemptResult(call, -1, "unavailable")], sent=False)
    session.commit()
    again = notify.claim_delivery(session, key, now=clock_module.now(), calling=call)
    assert (again.id, again.channel) == (row.id, "pending")  # taken up again: the call is marked as before
    assert not notify.is_marked(again, call)
    session.rollback()


def _unsettled_deliveries(session, clock):
    """Which delivery jobs the lost-job sweep picks: handed to RQ long enough ago and never settled by a run."""
    people = [resident(session, openid=f"oLost{i:04d}") for i in range(7)]
    staff = Staff(name="网格员", role="grid_worker", openid="oStaffLost")
    session.add(staff)
    session.flush()
    for r in people:
        notify.notify_resident(session, r.id, "倡议：冬季扫雪", key="callup-1", related=("callup", 1))
    notify.notify_staff(session, staff.id, key="appeal-3", title="新诉求", fields={})
    session.flush()
    handed_at = clock_module.now()
    jobs = {
        job.args[0] if job.func == notify.RESIDENT_JOB else "staff": job for job in session.scalars(select(PendingJob))
    }
    for job in jobs.values():
        job.enqueued_at = handed_at
    jobs[people[5].id].enqueued_at = None  # never reached RQ: the outbox sweeper's, not this sweep's
    jobs[people[6].id].enqueued_at = handed_at + notify.LOST_AFTER - timedelta(seconds=30)  # handed over lately
    key = [notify.resident_ledger_key(r.id, "callup-1") for r in people]
    sent = notify.claim_delivery(session, key[1], now=handed_at)
    notify.finish_delivery(session, sent, [], sent=True)
    failed = notify.claim_delivery(session, key[2], now=handed_at)
    notify.finish_delivery(session, failed, [], sent=False)  # done; RQ's retries own what follows
    notify.claim_delivery(session, key[3], now=handed_at)  # claimed by a run that died long ago
    check_at = handed_at + notify.LOST_AFTER + timedelta(seconds=1)
    notify.claim_delivery(session, key[4], now=check_at - timedelta(seconds=10))  # a run delivering it now
    session.commit()

    lost = notify.unsettled_deliveries(session, now=check_at)
    assert {job.job_id for job in lost} == {jobs[people[0].id].job_id, jobs[people[3].id].job_id, jobs["staff"].job_id}
    assert [job.job_id for job in notify.unsettled_deliveries(session, now=check_at, limit=2)] == [
        job.job_id for job in sorted(lost, key=lambda j: j.id)
    ][:2]
    assert notify.unsettled_deliveries(session, now=handed_at + notify.LOST_LOOKBACK + timedelta(seconds=1)) == [
        jobs[people[6].id]
    ]  # older rows are left to an operator


def test_unsettled_deliveries_are_those_handed_to_rq_long_ago_that_no_run_has_settled_sqlite(session, clock):
    _unsettled_deliveries(session, clock)


@pytest.mark.postgres
def test_unsettled_deliveries_are_those_handed_to_rq_long_ago_that_no_run_has_settled_postgres(pg_app, clock):
    s = get_db(pg_app).session()
    try:
        _unsettled_deliveries(s, clock)
    finally:
        s.close()
