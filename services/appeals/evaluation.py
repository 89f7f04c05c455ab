"""The resident's side of the loop: rating (回访), chase (催办), reopen, withdraw.

"Completed" counts only after the resident confirms, or automatically when they do not answer within the
window (workflow.AUTO_CLOSE_HOURS after the resolved notice). Windows and periods are wall-clock, not working time,
because they are about the resident's patience, not the unit's office hours.
"""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from infra import clock
from models.appeal import RATINGS, Appeal, AppealSupporter
from services.appeals import deadlines, handling, workflow
from services.appeals.records import Actor, iso_utc, record_step
from services.appeals.states import UNRESOLVED, WORKING
from services.errors import Conflict, DomainError, Forbidden, InvalidTransition, RateLimited

REOPEN_DAYS = 7  # a resident may reopen a resolved appeal within this many days of its closure
CHASE_PERIOD_HOURS = 24  # one 催办 per appeal per period

RATING_LABELS = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}
# Chat answers the intake routes here ("1/2/3" after the resolved notice) and the mini-program's codes.
_RATING_WORDS = {
    "1": "satisfied",
    "2": "basically_satisfied",
    "3": "unsatisfied",
    "满意": "satisfied",
    "基本满意": "basically_satisfied",
    "不满意": "unsatisfied",
    **{r: r for r in RATINGS},
}


def parse_rating(text: str) -> str | None:
    """A rating code from a chat answer ("1", "满意", "basically_satisfied" …), or None."""
    return _RATING_WORDS.get((text or "").strip().strip("。.!！ ").lower())


_VERBS = {"rate": "评价", "reopen": "重办", "withdraw": "撤回", "chase": "催办"}


def _label(appeal: Appeal) -> str:
    """The appeal's status as residents read it (已办结, 处理中 …)."""
    return workflow.STATUS_LABELS.get(appeal.status, appeal.status)


def _closure_label(appeal: Appeal) -> str:
    code = appeal.closure_code or ""
    return workflow.CLOSURE_LABELS.get(code, code)


def _own(appeal: Appeal, resident_id: int, what: str) -> None:
    if appeal.resident_id is None or appeal.resident_id != resident_id:
        raise Forbidden(f"只有反映人本人可以{_VERBS.get(what, what)}这件诉求")


def rate(
    session: Session,
    appeal: Appeal,
    *,
    resident_id: int,
    rating: str,
    comment: str | None = None,
    reopen_days: float = REOPEN_DAYS,
    notify_rater: bool = True,
) -> Appeal:
    """Record 满意 / 基本满意 / 不满意 and close the appeal as resolved (or rate a just auto-closed one).

    `notify_rater=False` when the caller answers the rater itself with `rated_text` (a rating sent in chat);
    supporters are told either way.
    """
    _own(appeal, resident_id, "rate")
    code = parse_rating(rating)
    if code is None:
        raise DomainError(
            "评价应为 satisfied（满意）、basically_satisfied（基本满意）或 unsatisfied（不满意），或 1/2/3",
            code="invalid_rating",
        )
    if appeal.rating is not None:
        raise Conflict("这件诉求已经评价过", code="already_rated")
    now = clock.now()
    late = (
        appeal.status == "closed"
        and appeal.closure_code == "resolved"
        and appeal.closed_at is not None
        and now <= appeal.closed_at + timedelta(days=reopen_days)
    )
    if appeal.status != "resolved" and not late:
        raise InvalidTransition(f"诉求 {appeal.number} 当前为{_label(appeal)}，承办单位办结后才能评价")
    actor = Actor("resident", resident_id)
    appeal.rating = code
    appeal.rating_comment = comment.strip() if comment else None
    appeal.rated_at = now
    record_step(session, appeal, "rate", actor, note=appeal.rating_comment, payload={"rating": code})
    if late:
        return appeal
    close_event = workflow.close_event(session, appeal, actor=actor, code="resolved", notify=False)
    text = rated_text(appeal, code, reopen_days=reopen_days)
    workflow.notify_residents(session, appeal, text, event=close_event, skip=None if notify_rater else resident_id)
    if code == "unsatisfied":
        # A dissatisfied resident is a signal for the grid leader (Beijing's 回访: follow up low scores).
        leader = handling.grid_leader(session, appeal)
        workflow.notify_staff_members(
            session,
            appeal,
            [leader] if leader is not None else [],
            key=f"appeal:{appeal.id}:unsatisfied:{close_event.id}",
            title="居民评价不满意，请回访",
            extra={"评价": RATING_LABELS[code]},
        )
    return appeal


def rated_text(appeal: Appeal, code: str, *, reopen_days: float = REOPEN_DAYS) -> str:
    """What the resident is told once their rating closed the appeal."""
    text = f"感谢您的评价（{RATING_LABELS[code]}），诉求（编号{appeal.number}）已结案。"
    if code == "unsatisfied":
        text += f"如问题仍未解决，可在{int(reopen_days)}天内回复“重办{appeal.number}”。"
    return text


def reopened_text(session: Session, appeal: Appeal) -> str:
    """What the resident is told once a reopened appeal is back with its unit, with the new deadline."""
    return (
        f"您的诉求（编号{appeal.number}）已重新交{handling.unit_name(session, appeal)}办理，"
        f"预计{clock.local_text(appeal.due_at)}前办结。"
    )


def chase(session: Session, appeal: Appeal, *, resident_id: int, period_hours: float = CHASE_PERIOD_HOURS) -> Appeal:
    """催办: remind the handler (or the dispatcher) once per period; RateLimited when too soon."""
    supporter = session.scalar(
        select(AppealSupporter.id).where(
            AppealSupporter.appeal_id == appeal.id, AppealSupporter.resident_id == resident_id
        )
    )
    if appeal.resident_id != resident_id and supporter is None:
        raise Forbidden("只有反映人或关注人可以催办这件诉求")
    if appeal.status not in UNRESOLVED:
        raise InvalidTransition(
            f"appeal {appeal.number} is {appeal.status}; there is nothing to chase"
            + ("; please rate it instead" if appeal.status == "resolved" else "")
        )
    now = clock.now()
    period = timedelta(hours=period_hours)
    # A conditional UPDATE, so two simultaneous chases (webhook + mini-program) cannot both pass.
    result = session.execute(
        update(Appeal)
        .where(
            Appeal.id == appeal.id,
            or_(Appeal.last_chased_at.is_(None), Appeal.last_chased_at <= now - period),
        )
        .values(last_chased_at=now)
    )
    if (result.rowcount or 0) != 1:
        session.refresh(appeal, ["last_chased_at"])
        retry_at = (appeal.last_chased_at or now) + period
        raise RateLimited(
            f"诉求 {appeal.number} 刚催办过，{retry_at.astimezone(clock.LOCAL_TZ):%m-%d %H:%M} 后可再次催办",
            details={"retry_after_seconds": max(0, int((retry_at - now).total_seconds()))},
        )
    appeal.last_chased_at = now
    event = record_step(session, appeal, "chase", Actor("resident", resident_id))
    to = handling.handler_staff(session, appeal) if appeal.status in WORKING else []
    if not to:
        leader = handling.grid_leader(session, appeal)
        to = [leader] if leader is not None else []
    workflow.notify_staff_members(
        session, appeal, to, key=f"appeal:{appeal.id}:ev{event.id}", title="居民催办：请尽快处理", urgent=True
    )
    return appeal


def reopen(
    session: Session,
    appeal: Appeal,
    *,
    resident_id: int,
    reason: str,
    reopen_days: float = REOPEN_DAYS,
    notify_requester: bool = True,
) -> Appeal:
    """The resident says it is not fixed: back to the same unit with a new deadline (counts against KPIs).

    `notify_requester=False` when the caller answers the resident itself with `reopened_text` (chat).
    """
    _own(appeal, resident_id, "reopen")
    if not reason or not reason.strip():
        raise DomainError("请说明仍未解决的情况", code="reason_required")
    now = clock.now()
    if appeal.status == "closed":
        if appeal.closure_code != "resolved":
            raise InvalidTransition(f"诉求 {appeal.number} 已结案（{_closure_label(appeal)}），请提交新的诉求")
        if appeal.closed_at is None or now > appeal.closed_at + timedelta(days=reopen_days):
            raise InvalidTransition(
                f"诉求 {appeal.number} 结案已超过 {int(reopen_days)} 天，请提交新的诉求",
                code="reopen_window_passed",
            )
    elif appeal.status != "resolved":
        raise InvalidTransition(f"诉求 {appeal.number} 当前为{_label(appeal)}，只有已办结的诉求可以重办")
    from_status = appeal.status
    appeal.status = "dispatched"
    appeal.reopen_count += 1
    appeal.closure_code = appeal.closure_note = None
    appeal.closed_at = appeal.resolved_at = appeal.accepted_at = None
    appeal.rating = appeal.rating_comment = None
    appeal.rated_at = None
    appeal.dispatched_at = now
    appeal.overdue = False
    appeal.escalation_level = 0
    due = deadlines.compute_deadlines(session, appeal, now)
    appeal.accept_due_at, appeal.due_at = due.accept_due_at, due.due_at
    event = record_step(
        session,
        appeal,
        "reopen",
        Actor("resident", resident_id),
        from_status=from_status,
        to_status="dispatched",
        note=reason.strip(),
        payload={
            "handler_type": appeal.handler_type,
            "grid_id": appeal.grid_id,
            "department_id": appeal.department_id,
            "property_company_id": appeal.property_company_id,
            "community_id": appeal.community_id,
            "due_at": iso_utc(due.due_at),
            "accept_due_at": iso_utc(due.accept_due_at),
            "reopen_count": appeal.reopen_count,
        },
    )
    deadlines.schedule_ladder(session, appeal, due)
    workflow.notify_staff_members(
        session,
        appeal,
        handling.handler_staff(session, appeal),
        key=f"appeal:{appeal.id}:ev{event.id}",
        title="居民反映问题未解决，诉求已重办",
        deadline=due.accept_due_at,  # the sign-in deadline in the template's time slot, date and time in full
        extra={"重办原因": reason.strip()[:60]},
    )
    workflow.notify_residents(
        session, appeal, reopened_text(session, appeal), event=event, skip=None if notify_requester else resident_id
    )
    return appeal


def withdraw(
    session: Session, appeal: Appeal, *, resident_id: int, reason: str | None = None, notify_requester: bool = True
) -> Appeal:
    """The resident withdraws an open appeal: closed as withdrawn; the unit is told to stop.

    `notify_requester=False` when the caller answers the resident itself (chat); supporters are told anyway.
    """
    _own(appeal, resident_id, "withdraw")
    if appeal.status == "closed":
        raise InvalidTransition(f"诉求 {appeal.number} 已经结案")
    was_working = appeal.status in WORKING
    actor = Actor("resident", resident_id)
    record_step(session, appeal, "withdraw", actor, note=reason)
    skip = None if notify_requester else resident_id
    workflow.close_appeal(session, appeal, actor=actor, code="withdrawn", note=reason, skip=skip)
    if was_working:
        workflow.notify_staff_members(
            session,
            appeal,
            handling.handler_staff(session, appeal),
            key=f"appeal:{appeal.id}:withdrawn",
            title="居民已撤回诉求，无需继续办理",
        )
    return appeal


# ---------------------------------------------------------------- the same actions, answered in chat

_CHAT_REFUSALS = {
    "reopen_window_passed": f"已超过{REOPEN_DAYS}天的重办期限，请直接发送新的诉求",
    "invalid_transition": "它当前的办理状态不允许这样做",
    "forbidden": "只有反映人本人可以这样做",
    "reason_required": "请说明仍未解决的情况",
}
_CHAT_ACTION = re.compile(r"^\s*(重办|催办|撤回)\s*(HG\d{6,})?\s*[。.!！]?\s*$", re.IGNORECASE)


def is_chat_action(text: str) -> bool:
    """True for a chat 催办 / 重办 / 撤回 (optionally with an appeal number)."""
    return _CHAT_ACTION.match(text or "") is not None


def _latest(session: Session, resident_id: int, statuses: tuple[str, ...], number: str | None) -> Appeal | None:
    which = Appeal.number == number.upper() if number else Appeal.status.in_(statuses)
    stmt = select(Appeal).where(Appeal.resident_id == resident_id, Appeal.kind == "appeal", which)
    return session.scalar(stmt.order_by(Appeal.id.desc()).limit(1))


def answer_in_chat(
    session: Session,
    resident_id: int,
    text: str,
    *,
    chase_hours: float = CHASE_PERIOD_HOURS,
    reopen_days: float = REOPEN_DAYS,
) -> str | None:
    """Handle a chat reply that rates, chases (催办), reopens (重办) or withdraws (撤回) an appeal.

    Returns the passive reply, or None when `text` is not such an answer (then it is an ordinary message).
    "1/2/3" only counts as a rating while an appeal is waiting for one, so digits stay ordinary text otherwise.
    Refusals (too soon, wrong state) come back as a reply the resident can act on, not as an error.
    """
    rating = parse_rating(text)
    if rating is not None:
        appeal = _latest(session, resident_id, ("resolved",), None)
        if appeal is None:
            return None
        # The answer is the one message the resident gets: the closing notice is not sent to them as well.
        rate(session, appeal, resident_id=resident_id, rating=rating, reopen_days=reopen_days, notify_rater=False)
        return rated_text(appeal, rating, reopen_days=reopen_days)
    match = _CHAT_ACTION.match(text or "")
    if match is None:
        return None
    verb, number = match.group(1), match.group(2)
    if verb == "重办":
        appeal = _latest(session, resident_id, ("resolved", "closed"), number)
    else:
        appeal = _latest(session, resident_id, UNRESOLVED, number)
    if appeal is None:
        return f"没有找到可以{verb}的诉求。回复“我的诉求”查看您的诉求和编号。"
    try:
        if verb == "催办":
            chase(session, appeal, resident_id=resident_id, period_hours=chase_hours)
            return f"已为您催办诉求（编号{appeal.number}），承办单位会尽快处理。"
        if verb == "重办":
            reopen(
                session, appeal, resident_id=resident_id, reason=text.strip(), reopen_days=reopen_days,
                notify_requester=False,
            )  # fmt: skip
            return reopened_text(session, appeal)
        withdraw(session, appeal, resident_id=resident_id, reason=text.strip(), notify_requester=False)
        return f"诉求（编号{appeal.number}）已撤回。"
    except RateLimited:
        return f"诉求（编号{appeal.number}）刚催办过，承办单位正在处理，请稍后再试。"
    except DomainError as e:
        # Residents read Chinese; the error's own message is written for API clients and staff.
        why = _CHAT_REFUSALS.get(e.code, f"当前状态（{appeal.status}）不支持此操作")
        return f"诉求（编号{appeal.number}）暂时无法{verb}：{why}。回复“我的诉求”查看办理进度。"
