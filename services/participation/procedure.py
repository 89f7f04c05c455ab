"""四议两公开: the tracked procedure of a council's decision on a major matter.

Four deliberations, in this order, each recorded with its date and outcome — 党组织提议 (the Party organisation
proposes), 两委商议 (the two committees consult), 党员大会审议 (the Party members' meeting reviews),
居民代表会议决议 (the residents' representatives resolve) — then two publications: 决议公开 (the resolution)
and, once carried out, 实施结果公开 (the result). Each publication is a notice in the council's community (or
estate) pushed to every resident in scope through the notification rules
(`services.notices.announcements`). A step out of
order is refused, a rejected deliberation ends the procedure, and UNIQUE(item, step) keeps each step to one row.

What the council decided may also become a micro-project proposal (already feasible, for the residents' vote)
or a co-building need (需求清单, `services.cobuilding.needs`, naming the item it came from) for the member units.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra import clock
from models.council import Council, CouncilItem, ProcedureStep
from models.micro_project import Proposal
from models.notice import Notice
from models.staff import Staff
from services.cobuilding import needs as need_service
from services.errors import Conflict, DomainError
from services.notices import announcements as notices
from services.participation import proposals as proposal_service
from services.participation import scope as scopes

DELIBERATIONS = ("party_proposal", "committees_consult", "party_review", "representatives_resolve")
PUBLICATIONS = ("publish_resolution", "publish_result")
STEPS = DELIBERATIONS + PUBLICATIONS
LABELS = {
    "party_proposal": "党组织提议",
    "committees_consult": "两委商议",
    "party_review": "党员大会审议",
    "representatives_resolve": "居民代表会议决议",
    "publish_resolution": "决议公开",
    "publish_result": "实施结果公开",
}
OUTCOMES = ("approved", "rejected")
CREATES = (None, "proposal", "notice", "need")  # what an ordinary item's decision may create


def steps_of(session: Session, item: CouncilItem) -> list[ProcedureStep]:
    """The recorded steps of an item, in procedure order."""
    rows = list(session.scalars(select(ProcedureStep).where(ProcedureStep.item_id == item.id)))
    return sorted(rows, key=lambda s: STEPS.index(s.step))


def next_step(session: Session, item: CouncilItem) -> str | None:
    """The step that may be recorded next, or None when the procedure has ended (done or rejected)."""
    done = steps_of(session, item)
    if any(s.outcome == "rejected" for s in done) or len(done) == len(STEPS):
        return None
    return STEPS[len(done)]


def _check_next(session: Session, staff: Staff, item: CouncilItem, step: str, held_on: date) -> ProcedureStep | None:
    council = session.get(Council, item.council_id)
    assert council is not None
    scopes.check_organiser(staff, council.community_id)
    if not item.major:
        raise Conflict("这个议题不是重大事项，不走四议两公开", code="not_major")
    if step not in STEPS:
        raise DomainError(f"未知的步骤 {step!r}", code="invalid_step")
    expected = next_step(session, item)
    if step != expected:
        wanted = LABELS[expected] if expected else "无（程序已结束）"
        raise Conflict(
            f"步骤顺序不对：下一步应为「{wanted}」", code="step_out_of_order", details={"expected": expected}
        )
    if held_on > clock.local_now().date():
        raise DomainError("日期不能晚于今天", code="invalid_date")
    done = steps_of(session, item)
    last = done[-1] if done else None
    if last is not None and held_on < last.held_on:
        raise DomainError(f"日期不能早于上一步（{last.held_on.isoformat()}）", code="invalid_date")
    return last


def _record(
    session: Session,
    staff: Staff,
    item: CouncilItem,
    step: str,
    held_on: date,
    outcome: str,
    note: str,
    notice: Notice | None,
) -> ProcedureStep:
    row = ProcedureStep(
        item_id=item.id,
        step=step,
        held_on=held_on,
        outcome=outcome,
        note=note.strip(),
        notice_id=notice.id if notice else None,
        staff_id=staff.id,
        recorded_at=clock.now(),
    )
    session.add(row)
    session.flush()
    return row


def deliberate(
    session: Session, staff: Staff, item: CouncilItem, step: str, *, held_on: date, outcome: str, note: str = ""
) -> ProcedureStep:
    """Record one of the four deliberations (in order); the fourth, approved, resolves the item."""
    if step not in DELIBERATIONS:
        raise DomainError("这里只记录四议；公开请用 publish", code="invalid_step")
    if outcome not in OUTCOMES:
        raise DomainError("结果须为 approved 或 rejected", code="invalid_outcome")
    _check_next(session, staff, item, step, held_on)
    row = _record(session, staff, item, step, held_on, outcome, note, None)
    if outcome == "rejected":
        item.status = "rejected"
    elif step == DELIBERATIONS[-1]:
        item.status = "resolved"
        item.decision = note.strip() or item.title
    session.flush()
    return row


def _notice(session: Session, staff: Staff, item: CouncilItem, heading: str, text: str) -> Notice:
    council = session.get(Council, item.council_id)
    assert council is not None
    notice = notices.publish(
        session,
        staff,
        title=f"{heading}：{item.title}"[:100],
        body=text.strip(),
        category="community",
        estate_id=council.estate_id,
        published_at=clock.now(),
    )
    notices.push_to_audience(session, notice, heading=heading)  # pushed to each resident in scope, not only listed
    return notice


def publish(
    session: Session,
    staff: Staff,
    item: CouncilItem,
    step: str,
    *,
    held_on: date,
    text: str,
    proposal: dict[str, Any] | None = None,
    need: dict[str, Any] | None = None,
) -> ProcedureStep:
    """Publish the resolution (决议公开) or the result (实施结果公开) as a notice pushed to residents in scope.

    With the resolution, `proposal` ({title, description, rough_cost_yuan}) creates the micro-project
    proposal the council decided on, already feasible, in the council's estate or community; `need`
    ({title, description, beneficiaries, wanted_by}) posts the co-building need it decided to ask for.
    """
    if step not in PUBLICATIONS:
        raise DomainError("这里只记录两公开", code="invalid_step")
    if not text.strip():
        raise DomainError("请填写公开内容", code="invalid_text")
    _check_next(session, staff, item, step, held_on)
    notice = _notice(session, staff, item, LABELS[step], text)
    row = _record(session, staff, item, step, held_on, "published", text, notice)
    if step == "publish_resolution":
        item.created_notice_id = notice.id
        if proposal is not None:
            council = session.get(Council, item.council_id)
            assert council is not None
            where = scopes.Scope(
                council.community_id, "estate" if council.estate_id else "community", estate_id=council.estate_id
            )
            created = proposal_service.propose_for(
                session,
                where,
                title=str(proposal.get("title") or item.title),
                description=str(proposal.get("description") or item.decision or item.title),
                rough_cost_yuan=int(proposal.get("rough_cost_yuan") or 0),
            )
            item.created_proposal_id = created.id
        if need is not None:
            item.created_need_id = _need(session, staff, item, need, text)
    else:
        item.status = "done"
    session.flush()
    return row


def _need(session: Session, staff: Staff, item: CouncilItem, details: dict[str, Any], decided: str) -> int:
    """Post the co-building need a decision asks for, from this deliberation item; its id."""
    wanted_by = details.get("wanted_by")
    need = need_service.post(
        session,
        staff,
        title=str(details.get("title") or item.title)[:100],
        description=str(details.get("description") or decided or item.title),
        beneficiaries=int(details.get("beneficiaries") or 0),
        wanted_by=wanted_by if isinstance(wanted_by, date) else None,
        deliberation_ref=item.public_id,
    )
    return need.id


def view(session: Session, item: CouncilItem) -> dict[str, Any]:
    """An item with its procedure: recorded steps, the next one, and what the decision created."""
    created = session.get(Proposal, item.created_proposal_id) if item.created_proposal_id else None
    upcoming = next_step(session, item) if item.major else None
    return {
        "id": item.public_id,
        "title": item.title,
        "description": item.description,
        "source_type": item.source_type,
        "major": item.major,
        "status": item.status,
        "decision": item.decision,
        "steps": [
            {
                "step": s.step,
                "label": LABELS[s.step],
                "held_on": s.held_on,
                "outcome": s.outcome,
                "note": s.note,
                "notice_id": s.notice_id,
            }
            for s in steps_of(session, item)
        ],
        "next_step": upcoming,
        "next_step_label": LABELS.get(upcoming or ""),
        "created_proposal": created.public_id if created else None,
        "created_need": item.created_need_id,
        "need": item.need_id,
    }


def decide(
    session: Session,
    staff: Staff,
    item: CouncilItem,
    *,
    decision: str,
    create: str | None = None,
    proposal: dict[str, Any] | None = None,
    need: dict[str, Any] | None = None,
) -> CouncilItem:
    """Decide an ordinary (not major) item at a meeting; the decision may create a proposal, a notice or a need."""
    council = session.get(Council, item.council_id)
    assert council is not None
    scopes.check_organiser(staff, council.community_id)
    if item.major:
        raise Conflict("重大事项须走四议两公开", code="major_needs_procedure")
    if item.status != "open":
        raise Conflict("这个议题已经有决定了", code="already_decided")
    if not decision.strip():
        raise DomainError("请填写决定内容", code="invalid_decision")
    if create not in CREATES:
        raise DomainError("create 须为 proposal、notice 或 need", code="invalid_create")
    item.decision = decision.strip()
    item.status = "done"
    if create == "notice":
        item.created_notice_id = _notice(session, staff, item, "议事会决定", decision).id
    elif create == "need":
        item.created_need_id = _need(session, staff, item, need or {}, decision.strip())
    elif create == "proposal":
        where = scopes.Scope(
            council.community_id, "estate" if council.estate_id else "community", estate_id=council.estate_id
        )
        details = proposal or {}
        item.created_proposal_id = proposal_service.propose_for(
            session,
            where,
            title=str(details.get("title") or item.title),
            description=str(details.get("description") or decision),
            rough_cost_yuan=int(details.get("rough_cost_yuan") or 0),
        ).id
    session.flush()
    return item
