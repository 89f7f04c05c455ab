"""The appeal state machine: dispatch, accept (签收), start, return (退单), arbitration, resolve, close.

Every transition checks the current state and the actor's role and scope, changes the row, appends one
`AppealEvent` (KPIs are recomputed from these events) and tells the people concerned through
`services.notifications.notify` (which defers sends through the outbox). Services flush; callers commit.
The resident's steps (rate, chase, reopen, withdraw) are `services.appeals.evaluation`'s; who handles an appeal and
who is told is `services.appeals.handling`'s.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, false, or_, select
from sqlalchemy.orm import Session

from infra import clock
from infra.privacy import redact_text
from models.appeal import CLOSURE_CODES, HANDLER_TYPES, Appeal, AppealAttachment, AppealEvent
from models.org import Department, Grid, PropertyCompany
from models.staff import Staff
from nlp.taxonomy import label_of
from services.appeals import deadlines
from services.appeals.duplicates import supporters_of
from services.appeals.duty import triage_staff
from services.appeals.handling import grid_leader, handler_staff, on_duty_now, secretary, unit_name
from services.appeals.records import SYSTEM, Actor, iso_utc, record_step
from services.appeals.states import NOT_CLOSED, WORKING
from services.errors import DomainError, Forbidden, InvalidTransition, NotFound
from services.notifications.notify import notify_resident, notify_staff, template_time

log = logging.getLogger(__name__)

# States in which a handling unit is working on the appeal (the deadline ladder applies).
AUTO_CLOSE_HOURS = 72  # no rating within this window → closed as resolved, without a rating

# Who may do what: the assigned unit handles; grid leaders and community roles dispatch; the community
# secretary (or the street office) arbitrates a case returned twice.
HANDLER_ROLES = {
    "grid": ("grid_worker", "grid_leader"),
    "department": ("department_staff",),
    "property_company": ("property_staff",),
}
DISPATCH_ROLES = ("grid_leader", "community_staff", "community_secretary", "street_officer", "admin")
ARBITRATION_ROLES = ("community_secretary", "street_officer", "admin")
COMMUNITY_ROLES = ("community_staff", "community_secretary")
GLOBAL_ROLES = ("street_officer", "admin")

# 退单 reasons: 属地不符, 权属不清, 职能交叉, 信息不全.
RETURN_REASONS = {
    "wrong_area": "属地不符",
    "unclear_ownership": "权属不清",
    "overlapping_remit": "职能交叉",
    "incomplete": "信息不全",
}
ARBITRATION_AFTER_RETURNS = 2

STATUS_LABELS = {
    "received": "已受理",
    "triaged": "待分派",
    "dispatched": "已派单",
    "accepted": "已签收",
    "in_progress": "办理中",
    "returned": "协调中",  # residents see "being coordinated", not the internal 退单
    "resolved": "已办结，待评价",
    "closed": "已结案",
}
CLOSURE_LABELS = {
    "resolved": "已解决",
    "unresolved": "未能解决（已说明原因）",
    "duplicate": "重复诉求，已并入原诉求",
    "referred": "不属本社区职责，已转相关部门",
    "withdrawn": "已撤回",
}


# ---------------------------------------------------------------- helpers


# Workflow steps as staff and residents read them in refusal messages.
VERBS = {
    "dispatch": "派单", "accept": "签收", "start": "开始办理", "return": "退单", "arbitrate": "仲裁",
    "resolve": "办结", "close": "结案", "note": "备注", "attach": "补充附件",
}  # fmt: skip


def _verb(what: str) -> str:
    """A workflow step's Chinese name ("close as duplicate" → 结案（duplicate）)."""
    head, _, rest = what.partition(" as ")
    word = VERBS.get(head, head)
    return f"{word}（{rest}）" if rest else word


def _transition(appeal: Appeal, to_status: str, allowed_from: tuple[str, ...], what: str) -> str:
    """Check that `appeal` may move to `to_status`; returns the from-status."""
    if appeal.status not in allowed_from:
        raise InvalidTransition(
            f"诉求 {appeal.number or appeal.id} 当前为{STATUS_LABELS.get(appeal.status, appeal.status)}，"
            f"不能{_verb(what)}（需要处于：{'、'.join(STATUS_LABELS.get(s, s) for s in allowed_from)}）",
            details={"status": appeal.status, "allowed_from": list(allowed_from), "to": to_status},
        )
    return appeal.status


def _staff(session: Session, actor: Actor) -> Staff:
    """The active staff member behind a staff actor (roles come from the database, not the caller)."""
    if actor.type != "staff" or actor.id is None:
        raise Forbidden("这个操作需要工作人员身份")
    staff = session.get(Staff, actor.id)
    if staff is None or not staff.active:
        raise Forbidden("工作人员不存在或已停用")
    return staff


def staff_can_see(staff: Staff, appeal: Appeal) -> bool:
    """The Python twin of `visible_to_staff`: may this staff member see this appeal at all?"""
    if not staff.active:
        return False
    if staff.role in GLOBAL_ROLES:
        return True
    if staff.role in COMMUNITY_ROLES:
        return appeal.community_id is None or appeal.community_id == staff.community_id
    if staff.role in ("grid_worker", "grid_leader"):
        return staff.grid_id is not None and appeal.grid_id == staff.grid_id
    if staff.role == "department_staff":
        return staff.department_id is not None and appeal.department_id == staff.department_id
    if staff.role == "property_staff":
        return staff.property_company_id is not None and appeal.property_company_id == staff.property_company_id
    return False


def visible_to_staff(session: Session, staff: Staff) -> Select[tuple[Appeal]]:
    """Appeals this staff member may see: their grid's, their unit's, their community's, or all (street)."""
    stmt = select(Appeal)
    if not staff.active:
        return stmt.where(false())
    if staff.role in GLOBAL_ROLES:
        return stmt
    if staff.role in COMMUNITY_ROLES:
        # Appeals with no location yet have no community; community staff triage them.
        return stmt.where(or_(Appeal.community_id == staff.community_id, Appeal.community_id.is_(None)))
    if staff.role in ("grid_worker", "grid_leader") and staff.grid_id is not None:
        return stmt.where(Appeal.grid_id == staff.grid_id)
    if staff.role == "department_staff" and staff.department_id is not None:
        return stmt.where(Appeal.department_id == staff.department_id)
    if staff.role == "property_staff" and staff.property_company_id is not None:
        return stmt.where(Appeal.property_company_id == staff.property_company_id)
    return stmt.where(false())


def is_handler(staff: Staff, appeal: Appeal) -> bool:
    """True when `staff` belongs to the unit the appeal is dispatched to (or is its assignee)."""
    if not staff.active:
        return False
    if appeal.assignee_staff_id is not None and appeal.assignee_staff_id == staff.id:
        return True
    roles = HANDLER_ROLES.get(appeal.handler_type or "", ())
    if staff.role not in roles:
        return False
    if appeal.handler_type == "grid":
        return staff.grid_id is not None and staff.grid_id == appeal.grid_id
    if appeal.handler_type == "department":
        return staff.department_id is not None and staff.department_id == appeal.department_id
    return staff.property_company_id is not None and staff.property_company_id == appeal.property_company_id


def _require_handler(session: Session, appeal: Appeal, actor: Actor, what: str) -> Staff:
    staff = _staff(session, actor)
    if not is_handler(staff, appeal):
        raise Forbidden(f"只有承办单位可以{_verb(what)}这件诉求")
    return staff


def _require_coordinator(session: Session, appeal: Appeal, actor: Actor, what: str) -> Staff | None:
    """Grid leader of the appeal's grid, community staff of its community or the street; None for system."""
    if actor.type == "system":
        return None
    staff = _staff(session, actor)
    if staff.role not in DISPATCH_ROLES:
        raise Forbidden(f"{staff.role} 不能{_verb(what)}诉求，请联系网格长或社区工作人员")
    if not staff_can_see(staff, appeal):
        raise Forbidden(f"这件诉求不在您的管辖范围，不能{_verb(what)}")
    return staff


def notify_residents(
    session: Session, appeal: Appeal, text: str, *, event: AppealEvent, skip: int | None = None
) -> int:
    """Tell the appeal's resident and its supporters (one idempotent notification each); returns how many.

    `skip` is a resident who already gets the same news as the answer to their own message (a rating or a
    重办 sent in chat), so they receive one message, not two.
    """
    recipients = [appeal.resident_id] if appeal.resident_id is not None else []
    recipients += [r for r in supporters_of(session, appeal) if r not in recipients]
    recipients = [r for r in recipients if r != skip]
    for resident_id in recipients:
        notify_resident(
            session,
            resident_id,
            text,
            key=f"appeal:{appeal.id}:ev{event.id}",
            related=("appeal", appeal.id),
        )
    return len(recipients)


def notify_staff_members(
    session: Session,
    appeal: Appeal,
    staff: list[Staff],
    *,
    key: str,
    title: str,
    extra: dict[str, str] | None = None,
    urgent: bool = False,
    deadline: datetime | None = None,
) -> list[int]:
    """Push a template notification about `appeal` to each staff member (idempotent by key and staff id);
    returns the ids of the staff members whose notification was queued.

    The template's `time` slot carries `deadline` (default: the resolution deadline) with its full date.
    """
    # The staff task template's slots (services.notifications.notify.STAFF_SLOTS); other labels go to the note.
    fields = {
        "number": appeal.number or str(appeal.id),
        "summary": f"{label_of(appeal.category) if appeal.category else '诉求'}：{redact_text(appeal.text)}"[:20],
        "deadline": template_time(deadline or appeal.due_at),
        "note": STATUS_LABELS.get(appeal.status, appeal.status),
        **(extra or {}),
    }
    seen: list[int] = []
    for member in staff:
        if member.id in seen:
            continue
        seen.append(member.id)
        notify_staff(
            session,
            member.id,
            key=key,
            title=title,
            fields=fields,
            related=("appeal", appeal.id),
            urgent=urgent or bool(appeal.urgent),
        )
    return seen


def _ids(people: list[Staff]) -> list[int]:
    """Distinct staff ids, in order."""
    return list(dict.fromkeys(p.id for p in people))


def last_notified(session: Session, appeal: Appeal, action: str = "dispatch") -> list[int]:
    """The staff ids the latest `action` event (dispatch or triage) queued notifications for."""
    event = session.scalar(
        select(AppealEvent)
        .where(AppealEvent.appeal_id == appeal.id, AppealEvent.action == action)
        .order_by(AppealEvent.id.desc())
        .limit(1)
    )
    return list((event.payload or {}).get("notified_staff_ids") or []) if event is not None else []


def start_triage(session: Session, appeal: Appeal, *, reason: str | None = None) -> list[int]:
    """Start the triage clock of an appeal nobody could place and tell the triage/duty staff at once.

    Returns the ids of the staff told (also recorded on the `triage` event, with the deadline).
    """
    now = clock.now()
    triage = deadlines.compute_triage(session, appeal, now)
    appeal.triage_due_at = triage.due_at
    people = triage_staff(session, appeal.community_id, appeal.grid_id, now)
    event = record_step(
        session,
        appeal,
        "triage",
        SYSTEM,
        note=reason,
        payload={
            "triage_due_at": iso_utc(triage.due_at),
            "wall_clock": triage.wall_clock,
            "notified_staff_ids": _ids(people),
        },
    )
    deadlines.schedule_triage(session, appeal, triage)
    notify_staff_members(
        session,
        appeal,
        people,
        key=f"appeal:{appeal.id}:ev{event.id}",
        title="紧急待分拣：请立即派单" if appeal.urgent else "待分拣：请尽快派单",
        deadline=triage.due_at,
        extra={"note": "无法自动分派，请人工分拣"},
    )
    return _ids(people)


# ---------------------------------------------------------------- transitions


def dispatch(
    session: Session,
    appeal: Appeal,
    *,
    actor: Actor,
    handler_type: str | None = None,
    grid_id: int | None = None,
    department_id: int | None = None,
    property_company_id: int | None = None,
    note: str | None = None,
    notify_resident: bool = True,
    _arbitrated: bool = False,
) -> Appeal:
    """Send the appeal to a handling unit: start the deadline clock, store the reminder ladder, notify.

    `notify_resident=False` when the caller tells the resident itself (intake answers with the same facts).
    """
    from_status = _transition(appeal, "dispatched", ("received", "triaged", "returned"), "dispatch")
    if from_status == "returned" and appeal.return_count >= ARBITRATION_AFTER_RETURNS and not _arbitrated:
        raise InvalidTransition(
            "这件诉求已被退单两次，需由社区书记仲裁",
            code="arbitration_required",
        )
    if not _arbitrated:
        _require_coordinator(session, appeal, actor, "dispatch")

    if handler_type is None:
        if department_id is not None:
            handler_type = "department"
        elif property_company_id is not None:
            handler_type = "property_company"
        elif grid_id is not None:
            handler_type = "grid"
        else:
            handler_type = appeal.handler_type
    if handler_type not in HANDLER_TYPES:
        raise DomainError(
            "请指明承办单位：handler_type 为 grid（网格）、department（部门）或 property_company（物业公司）",
            code="handler_required",
        )
    grid_id = grid_id if grid_id is not None else appeal.grid_id
    if handler_type == "grid":
        if grid_id is None or session.get(Grid, grid_id) is None:
            raise DomainError("派给网格需要有效的 grid_id", code="unknown_grid")
        department_id = property_company_id = None
    elif handler_type == "department":
        department_id = department_id if department_id is not None else appeal.department_id
        if department_id is None or session.get(Department, department_id) is None:
            raise DomainError("派给部门需要有效的 department_id", code="unknown_department")
        property_company_id = None
    else:
        property_company_id = property_company_id if property_company_id is not None else appeal.property_company_id
        if property_company_id is None or session.get(PropertyCompany, property_company_id) is None:
            raise DomainError("派给物业公司需要有效的 property_company_id", code="unknown_company")
        department_id = None

    if grid_id is not None and appeal.community_id is None:
        grid = session.get(Grid, grid_id)
        appeal.community_id = grid.community_id if grid is not None else None
    now = clock.now()
    appeal.handler_type = handler_type
    appeal.grid_id = grid_id
    appeal.department_id = department_id
    appeal.property_company_id = property_company_id
    appeal.assignee_staff_id = None
    appeal.status = "dispatched"
    appeal.dispatched_at = now
    appeal.accepted_at = None
    appeal.overdue = False
    appeal.escalation_level = 0
    due = deadlines.compute_deadlines(session, appeal, now)
    appeal.accept_due_at = due.accept_due_at
    appeal.due_at = due.due_at
    session.flush()
    # The unit, and for an urgent appeal outside working hours the staff on duty as well.
    recipients = handler_staff(session, appeal) + on_duty_now(session, appeal, now)
    event = record_step(
        session,
        appeal,
        "dispatch",
        actor,
        from_status=from_status,
        to_status="dispatched",
        note=note,
        payload={
            "handler_type": handler_type,
            "grid_id": grid_id,
            "department_id": department_id,
            "property_company_id": property_company_id,
            "community_id": appeal.community_id,
            "due_at": iso_utc(due.due_at),
            "accept_due_at": iso_utc(due.accept_due_at),
            "tier": due.terms.tier,
            "wall_clock": due.wall_clock,
            "notified_staff_ids": _ids(recipients),
        },
    )
    deadlines.schedule_ladder(session, appeal, due)
    name = unit_name(session, appeal)
    notify_staff_members(
        session,
        appeal,
        recipients,
        key=f"appeal:{appeal.id}:ev{event.id}",
        title="新派单：请于时限前签收" if not appeal.urgent else "紧急派单：请于时限前签收",
        deadline=due.accept_due_at,  # the template's time slot: the sign-in deadline, date and time in full
        extra={"note": f"办结时限{clock.local_text(due.due_at)}"},
    )
    if notify_resident:
        notify_residents(
            session,
            appeal,
            f"您的诉求（编号{appeal.number}）已转交{name}办理，预计{clock.local_text(due.due_at)}前办结。"
            "我们会及时告知进展，回复“我的诉求”可随时查看。",
            event=event,
        )
    return appeal


def accept(session: Session, appeal: Appeal, *, actor: Actor) -> Appeal:
    """签收: the assigned unit takes the appeal; the acceptance reminder is cancelled."""
    from_status = _transition(appeal, "accepted", ("dispatched",), "accept")
    staff = _require_handler(session, appeal, actor, "accept")
    now = clock.now()
    appeal.status = "accepted"
    appeal.accepted_at = now
    appeal.assignee_staff_id = staff.id
    deadlines.cancel_reminders(session, appeal, levels=(deadlines.ACCEPT_LEVEL,), reason="accepted")
    on_time = appeal.accept_due_at is None or now <= appeal.accept_due_at
    event = record_step(
        session,
        appeal,
        "accept",
        actor,
        from_status=from_status,
        to_status="accepted",
        payload={"on_time": on_time},
    )
    notify_residents(
        session,
        appeal,
        f"您的诉求（编号{appeal.number}）已由{unit_name(session, appeal)}签收，正在安排处理。",
        event=event,
    )
    return appeal


def start(session: Session, appeal: Appeal, *, actor: Actor, note: str | None = None) -> Appeal:
    """The assigned unit starts work (accepted → in_progress)."""
    from_status = _transition(appeal, "in_progress", ("accepted",), "start")
    _require_handler(session, appeal, actor, "start")
    appeal.status = "in_progress"
    record_step(session, appeal, "start", actor, from_status=from_status, to_status="in_progress", note=note)
    return appeal


def return_appeal(session: Session, appeal: Appeal, *, actor: Actor, reason_code: str, text: str) -> Appeal:
    """退单 with a reason code and an explanation; the second return sends the appeal to arbitration."""
    from_status = _transition(appeal, "returned", WORKING, "return")
    _require_handler(session, appeal, actor, "return")
    if reason_code not in RETURN_REASONS:
        raise DomainError(
            f"未知的退单原因 {reason_code!r}，可选：{'、'.join(RETURN_REASONS)}",
            code="invalid_reason",
            details={"allowed": RETURN_REASONS},
        )
    if not text or not text.strip():
        raise DomainError("退单需要向派单人说明原因", code="text_required")
    appeal.status = "returned"
    appeal.return_count += 1
    appeal.assignee_staff_id = None
    deadlines.cancel_reminders(session, appeal, reason="returned")
    needs_arbitration = appeal.return_count >= ARBITRATION_AFTER_RETURNS
    event = record_step(
        session,
        appeal,
        "return",
        actor,
        from_status=from_status,
        to_status="returned",
        reason_code=reason_code,
        note=text.strip(),
        payload={
            "handler_type": appeal.handler_type,
            "grid_id": appeal.grid_id,
            "department_id": appeal.department_id,
            "property_company_id": appeal.property_company_id,
            "return_count": appeal.return_count,
            "needs_arbitration": needs_arbitration,
        },
    )
    to = secretary(session, appeal) if needs_arbitration else grid_leader(session, appeal)
    notify_staff_members(
        session,
        appeal,
        [to] if to is not None else [],
        key=f"appeal:{appeal.id}:ev{event.id}",
        title="退单待仲裁" if needs_arbitration else "退单待重新派单",
        extra={"退单原因": RETURN_REASONS[reason_code], "说明": text.strip()[:60]},
    )
    return appeal


def arbitrate(
    session: Session,
    appeal: Appeal,
    *,
    actor: Actor,
    decision: str,
    handler_type: str | None = None,
    grid_id: int | None = None,
    department_id: int | None = None,
    property_company_id: int | None = None,
    code: str | None = None,
    note: str | None = None,
) -> Appeal:
    """审定 by the community secretary: assign a unit (decision "dispatch") or close (decision "close")."""
    staff = _staff(session, actor)
    if staff.role not in ARBITRATION_ROLES:
        raise Forbidden("只有社区书记或街道可以仲裁退单诉求")
    if not staff_can_see(staff, appeal):
        raise Forbidden("这件诉求不在您的社区")
    _transition(appeal, "dispatched", ("returned",), "arbitrate")
    if decision not in ("dispatch", "close"):
        raise DomainError("仲裁决定应为 dispatch（重新派单）或 close（结案）", code="invalid_decision")
    record_step(
        session,
        appeal,
        "arbitrate",
        actor,
        from_status="returned",
        to_status="returned",
        note=note,
        payload={
            "decision": decision,
            "handler_type": handler_type,
            "grid_id": grid_id,
            "department_id": department_id,
            "property_company_id": property_company_id,
            "code": code,
            "return_count": appeal.return_count,
        },
    )
    if decision == "close":
        return close(session, appeal, actor=actor, code=code or "referred", note=note)
    return dispatch(
        session,
        appeal,
        actor=actor,
        handler_type=handler_type,
        grid_id=grid_id,
        department_id=department_id,
        property_company_id=property_company_id,
        note=note,
        _arbitrated=True,
    )


def resolve(session: Session, appeal: Appeal, *, actor: Actor, reply: str, auto_close_hours: float = 72) -> Appeal:
    """The unit reports it done with a reply to the resident, who is asked to rate it (auto-closes later)."""
    from_status = _transition(appeal, "resolved", ("in_progress",), "resolve")
    _require_handler(session, appeal, actor, "resolve")
    if not reply or not reply.strip():
        raise DomainError("办结需要给居民的答复", code="reply_required")
    now = clock.now()
    appeal.status = "resolved"
    appeal.resolved_at = now
    deadlines.cancel_reminders(session, appeal, levels=deadlines.RESOLVE_LEVELS, reason="resolved")
    on_time = appeal.due_at is None or now <= appeal.due_at
    event = record_step(
        session,
        appeal,
        "resolve",
        actor,
        from_status=from_status,
        to_status="resolved",
        note=reply.strip(),
        payload={"on_time": on_time},
    )
    deadlines.schedule_auto_close(session, appeal, now + timedelta(hours=auto_close_hours))
    notify_residents(
        session,
        appeal,
        f"您的诉求（编号{appeal.number}）已办结：{reply.strip()}\n"
        f"请评价：回复 1 满意、2 基本满意、3 不满意。{int(auto_close_hours)}小时内未评价将自动结案。",
        event=event,
    )
    return appeal


def close(session: Session, appeal: Appeal, *, actor: Actor, code: str, note: str | None = None) -> Appeal:
    """Close with a closure code (resolved needs a resolved appeal; unresolved/referred need a note)."""
    if code not in CLOSURE_CODES or code == "withdrawn":
        raise DomainError(
            f"结案类型应为 resolved、unresolved、duplicate 或 referred（不是 {code!r}）；撤回只能由居民本人操作",
            code="invalid_closure_code",
        )
    if code in ("unresolved", "referred") and not (note and note.strip()):
        raise DomainError(f"以 {code} 结案需要向居民说明原因", code="note_required")
    if actor.type != "system":
        staff = _staff(session, actor)
        if staff.role not in DISPATCH_ROLES or not staff_can_see(staff, appeal):
            raise Forbidden("只有本区域的网格长或社区工作人员可以结案")
    allowed = ("resolved",) if code == "resolved" else NOT_CLOSED
    _transition(appeal, "closed", allowed, f"close as {code}")
    return close_appeal(session, appeal, actor=actor, code=code, note=note)


def close_appeal(
    session: Session,
    appeal: Appeal,
    *,
    actor: Actor,
    code: str,
    note: str | None = None,
    notify: bool = True,
    skip: int | None = None,
) -> Appeal:
    """The closing step shared by staff closure, rating, auto-close and withdrawal (callers check)."""
    close_event(session, appeal, actor=actor, code=code, note=note, notify=notify, skip=skip)
    return appeal


def close_event(
    session: Session,
    appeal: Appeal,
    *,
    actor: Actor,
    code: str,
    note: str | None = None,
    notify: bool = True,
    skip: int | None = None,
) -> AppealEvent:
    """`close_appeal`, returning the `close` event (callers key follow-up notifications on it).

    `skip`: a resident told already by the answer to their own message (see `notify_residents`)."""
    from_status = appeal.status
    appeal.status = "closed"
    appeal.closure_code = code
    appeal.closure_note = note.strip() if note else None
    appeal.closed_at = clock.now()
    deadlines.cancel_reminders(session, appeal, reason="closed")
    event = record_step(
        session,
        appeal,
        "close",
        actor,
        from_status=from_status,
        to_status="closed",
        reason_code=code,
        note=note,
    )
    if notify:
        text = f"您的诉求（编号{appeal.number}）已结案：{CLOSURE_LABELS[code]}。"
        if note and code in ("unresolved", "referred", "duplicate"):
            text += f"说明：{note.strip()}"
        notify_residents(session, appeal, text, event=event, skip=skip)
    return event


def add_note(session: Session, appeal: Appeal, *, actor: Actor, text: str, public: bool = False) -> AppealEvent:
    """A staff note on the appeal; internal unless `public` (public notes reach the resident's timeline)."""
    staff = _staff(session, actor)
    if not staff_can_see(staff, appeal):
        raise Forbidden("这件诉求不在您的管辖范围")
    if not text or not text.strip():
        raise DomainError("备注内容不能为空", code="text_required")
    if appeal.status == "closed":
        raise InvalidTransition("诉求已结案，不能再添加备注")
    event = record_step(session, appeal, "note", actor, note=text.strip(), payload={"public": public})
    if public:
        notify_residents(session, appeal, f"您的诉求（编号{appeal.number}）有新进展：{text.strip()}", event=event)
    return event


def add_attachment(
    session: Session,
    appeal: Appeal,
    *,
    actor: Actor,
    kind: str = "image",
    media_id: str | None = None,
    url: str | None = None,
    note: str | None = None,
) -> AppealAttachment:
    """Attach a staff photo/file (a WeChat media_id or a stored URL) and log an `attach` event."""
    staff = _staff(session, actor)
    if not staff_can_see(staff, appeal):
        raise Forbidden("这件诉求不在您的管辖范围")
    if kind not in ("image", "voice", "video", "file"):
        raise DomainError("附件类型应为 image、voice、video 或 file", code="invalid_kind")
    if not media_id and not url:
        raise DomainError("附件需要 media_id 或 url", code="media_required")
    if url and not url.startswith(("https://", "http://")):
        raise DomainError("附件 url 必须是 http(s) 地址", code="invalid_url")
    attachment = AppealAttachment(
        appeal_id=appeal.id,
        kind=kind,
        media_id=media_id,
        url=url,
        note=note,
        added_by_type="staff",
        added_by_id=staff.id,
        created_at=clock.now(),
    )
    session.add(attachment)
    session.flush()
    record_step(session, appeal, "attach", actor, note=note, payload={"attachment_id": attachment.id, "kind": kind})
    return attachment


def allowed_actions(staff: Staff, appeal: Appeal) -> list[str]:
    """The steps this staff member may take on the appeal now (the API's `allowed_actions`, the page's buttons)."""
    actions: list[str] = []
    handler = is_handler(staff, appeal)
    coordinator = staff.role in DISPATCH_ROLES
    if handler and appeal.status == "dispatched":
        actions.append("accept")
    if handler and appeal.status == "accepted":
        actions.append("start")
    if handler and appeal.status in WORKING:
        actions.append("return")
    if handler and appeal.status == "in_progress":
        actions.append("resolve")
    needs_arbitration = appeal.status == "returned" and appeal.return_count >= ARBITRATION_AFTER_RETURNS
    if coordinator and appeal.status in ("received", "triaged", "returned") and not needs_arbitration:
        actions.append("dispatch")
    if staff.role in ARBITRATION_ROLES and appeal.status == "returned":
        actions.append("arbitrate")
    if coordinator and appeal.status != "closed":
        actions += ["close", "recategorise"]
    if appeal.status != "closed":
        actions += ["note", "attach"]
    return actions


# ---------------------------------------------------------------- the reminder / escalation ladder

_LADDER_TEXT = {
    "remind_50": ("办理提醒：已过办理时限一半", 1),
    "remind_80": ("办理提醒：即将超期", 2),
}


def run_step(session: Session, appeal_id: int, level: str) -> str:
    """Perform one due ladder step once; returns what happened ("sent", "skipped: …", "not due/done").

    Idempotent: the step's Reminder row is claimed with a conditional UPDATE; a step whose appeal has moved on
    (accepted, resolved, returned, closed …) is cancelled instead of sent.
    """
    if level not in deadlines.ALL_LEVELS:
        raise ValueError(f"unknown ladder level {level!r}")
    now = clock.now()
    row = deadlines.claim(session, appeal_id, level, now)
    if row is None:
        return "not due/done"
    appeal = session.get(Appeal, appeal_id, with_for_update=True)
    if appeal is None:
        deadlines.mark_cancelled(session, row, "appeal gone")
        return "skipped: appeal gone"
    key = f"appeal:{appeal.id}:r{row.round}:{level}"
    if level == deadlines.AUTO_CLOSE_LEVEL:
        if not auto_close(session, appeal, window_hours=None):
            deadlines.mark_cancelled(session, row, f"moved on ({appeal.status})")
            return f"skipped: {appeal.status}"
        return "sent"
    if level in deadlines.TRIAGE_LEVELS:
        applicable: tuple[str, ...] = ("triaged",)
    elif level == deadlines.ACCEPT_LEVEL:
        applicable = ("dispatched",)
    else:
        applicable = WORKING
    if appeal.status not in applicable:
        deadlines.mark_cancelled(session, row, f"moved on ({appeal.status})")
        return f"skipped: {appeal.status}"
    # An urgent appeal's ladder runs day and night: outside working hours each step also reaches the staff
    # on duty, who can act while the grid leader or the secretary is asleep.
    duty = on_duty_now(session, appeal, now)

    if level in deadlines.TRIAGE_LEVELS:
        _triage_step(session, appeal, row.round, level, key, now)
    elif level in _LADDER_TEXT:
        title, n = _LADDER_TEXT[level]
        record_step(session, appeal, "remind", SYSTEM, payload={"level": n, "step": level, "round": row.round})
        notify_staff_members(session, appeal, handler_staff(session, appeal) + duty, key=key, title=title)
    elif level == deadlines.ACCEPT_LEVEL:
        leader = grid_leader(session, appeal)
        record_step(
            session,
            appeal,
            "overdue",
            SYSTEM,
            payload={"kind": "accept", "accept_due_at": iso_utc(appeal.accept_due_at), "round": row.round},
        )
        to = handler_staff(session, appeal) + ([leader] if leader is not None else []) + duty
        notify_staff_members(session, appeal, to, key=key, title="签收超时：请立即签收", deadline=appeal.accept_due_at)
    elif level == "overdue":
        appeal.overdue = True
        appeal.escalation_level = max(appeal.escalation_level, 1)
        leader = grid_leader(session, appeal)
        record_step(
            session,
            appeal,
            "overdue",
            SYSTEM,
            payload={"kind": "resolve", "due_at": iso_utc(appeal.due_at), "round": row.round},
        )
        record_step(
            session,
            appeal,
            "escalate",
            SYSTEM,
            payload={"level": 1, "to_staff_id": leader.id if leader else None, "round": row.round},
        )
        to = handler_staff(session, appeal) + ([leader] if leader is not None else []) + duty
        notify_staff_members(session, appeal, to, key=key, title="诉求已超期：请督办", urgent=True)
    else:  # secretary
        appeal.overdue = True
        appeal.escalation_level = max(appeal.escalation_level, 2)
        top = secretary(session, appeal)
        record_step(
            session,
            appeal,
            "escalate",
            SYSTEM,
            payload={"level": 2, "to_staff_id": top.id if top else None, "round": row.round},
        )
        notify_staff_members(
            session,
            appeal,
            ([top] if top is not None else []) + duty,
            key=key,
            title="诉求严重超期：请书记督办",
            urgent=True,
        )
    session.flush()
    return "sent"


def _triage_step(session: Session, appeal: Appeal, rnd: int, level: str, key: str, now: datetime) -> None:
    """The triage deadline passed with the appeal still unplaced: tell the triage staff again, then the
    secretary (escalation levels 1 and 2 of the triage ladder)."""
    if level == "triage_overdue":
        to = triage_staff(session, appeal.community_id, appeal.grid_id, now)
        n, title = 1, "分拣超时：请立即派单"
    else:
        top = secretary(session, appeal)
        to = ([top] if top is not None else []) + triage_staff(session, appeal.community_id, appeal.grid_id, now)
        n, title = 2, "分拣严重超时：请书记督办"
    appeal.escalation_level = max(appeal.escalation_level, n)
    record_step(
        session,
        appeal,
        "escalate",
        SYSTEM,
        payload={
            "kind": "triage",
            "level": n,
            "triage_due_at": iso_utc(appeal.triage_due_at),
            "round": rnd,
            "to_staff_ids": _ids(to),
        },
    )
    notify_staff_members(session, appeal, to, key=key, title=title, urgent=True, deadline=appeal.triage_due_at)


# ---------------------------------------------------------------- reading


def list_for_resident(
    session: Session, resident_id: int, *, status: str | None = None, limit: int = 20, offset: int = 0
) -> list[Appeal]:
    """The resident's own appeals, newest first; `status` is a state, or "open" / "closed"."""
    stmt = select(Appeal).where(Appeal.resident_id == resident_id)
    if status == "open":
        stmt = stmt.where(Appeal.status.in_(NOT_CLOSED))
    elif status is not None:
        stmt = stmt.where(Appeal.status == status)
    stmt = stmt.order_by(Appeal.created_at.desc(), Appeal.id.desc()).limit(max(1, min(limit, 100))).offset(offset)
    return list(session.scalars(stmt))


# What a resident may see of the log: transitions and their own acts, never internal notes, returns,
# reminders or classification details.
RESIDENT_ACTIONS = {
    "create": "诉求已提交",
    "dispatch": "已派单",
    "accept": "已签收",
    "start": "开始办理",
    "resolve": "已办结",
    "close": "已结案",
    "reopen": "已重新办理",
    "rate": "已评价",
    "chase": "已催办",
    "withdraw": "已撤回",
    "note": "办理进展",
    "support": "有居民反映了同一问题",
}


def timeline(session: Session, appeal: Appeal, *, audience: str) -> list[dict[str, Any]]:
    """The appeal's events for a resident (public steps, plain words) or for staff (everything)."""
    if audience not in ("resident", "staff"):
        raise ValueError("audience must be resident or staff")
    events = session.scalars(
        select(AppealEvent).where(AppealEvent.appeal_id == appeal.id).order_by(AppealEvent.created_at, AppealEvent.id)
    )
    out: list[dict[str, Any]] = []
    for e in events:
        if audience == "staff":
            out.append(
                {
                    "action": e.action,
                    "at": iso_utc(e.created_at),
                    "from_status": e.from_status,
                    "to_status": e.to_status,
                    "actor_type": e.actor_type,
                    "actor_id": e.actor_id,
                    "reason_code": e.reason_code,
                    "note": e.note,
                    "payload": e.payload,
                }
            )
            continue
        if e.action not in RESIDENT_ACTIONS:
            continue
        if e.action == "note" and not (e.payload or {}).get("public"):
            continue
        item: dict[str, Any] = {
            "action": e.action,
            "at": iso_utc(e.created_at),
            "label": RESIDENT_ACTIONS[e.action],
            "status": e.to_status,
            "status_label": STATUS_LABELS.get(e.to_status or ""),
        }
        if e.action in ("resolve", "note"):
            item["text"] = e.note
        if e.action == "close":
            item["closure"] = CLOSURE_LABELS.get(e.reason_code or "", e.reason_code)
            if e.reason_code in ("unresolved", "referred", "duplicate"):
                item["text"] = e.note
        if e.action == "rate":
            item["rating"] = (e.payload or {}).get("rating")
        out.append(item)
    return out


def get_for_staff(session: Session, staff: Staff, public_id: str) -> Appeal:
    """The appeal with `public_id` if this staff member may see it; NotFound otherwise (no existence leak)."""
    appeal = session.scalar(visible_to_staff(session, staff).where(Appeal.public_id == public_id))
    if appeal is None:
        raise NotFound("您的管辖范围内没有这件诉求")
    return appeal


def auto_close(session: Session, appeal: Appeal, *, window_hours: float | None = AUTO_CLOSE_HOURS) -> bool:
    """Close a resolved appeal nobody rated in the window, as resolved without a rating; False if moved on.

    `window_hours=None` skips the time check (the ladder step's due time already encodes the window).
    """
    if appeal.status != "resolved" or appeal.resolved_at is None:
        return False
    if window_hours is not None and clock.now() < appeal.resolved_at + timedelta(hours=window_hours):
        return False
    close_appeal(session, appeal, actor=SYSTEM, code="resolved", note="居民未在评价期限内评价，自动结案")
    return True


__all__ = [
    "ARBITRATION_ROLES",
    "DISPATCH_ROLES",
    "RETURN_REASONS",
    "SYSTEM",
    "Actor",
    "accept",
    "add_attachment",
    "add_note",
    "arbitrate",
    "auto_close",
    "close",
    "close_appeal",
    "dispatch",
    "get_for_staff",
    "list_for_resident",
    "resolve",
    "return_appeal",
    "staff_can_see",
    "start",
    "timeline",
    "visible_to_staff",
]
