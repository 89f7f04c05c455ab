"""议事会 pages: councils with their members, meetings (agenda, attendance, minutes) and items, and the decision
page that walks 四议两公开 one dated step at a time, publishing the resolution and the result as notices.

The pages call the services of the staff JSON API (`services.participation.councils` and `.procedure`); a step
out of order is refused with the service's Chinese message and nothing is recorded.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import redirect, request, url_for

from console.pages.participation import place_names
from console.pages.web import bp, page, record, signed_in, staff
from infra import clock
from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from models.council import MEMBER_KINDS, Council, CouncilItem
from models.micro_project import Proposal
from services.errors import DomainError
from services.participation import councils, procedure
from services.participation import scope as scopes

KIND_LABELS = {
    "party_member": "党员",
    "resident_rep": "居民代表",
    "property_company": "物业",
    "owners_committee": "业委会",
    "staff": "社区工作者",
    "co_building_unit": "共建单位",
}
ITEM_SOURCE_LABELS = {
    "staff": "工作人员提出",
    "appeal": "来自诉求",
    "proposal": "来自微实事提议",
    "need": "来自共建需求",
}
ITEM_STATUS = {"open": "审议中", "resolved": "已决议", "rejected": "未通过", "done": "已办结"}
OUTCOME_LABELS = {"approved": "通过", "rejected": "不通过", "published": "已公开"}
CREATE_LABELS = {"": "不另建", "proposal": "新建微实事提议", "need": "发布共建需求", "notice": "发布通知"}


def _organiser() -> None:
    scopes.check_organiser(staff())


def _date(name: str) -> date | None:
    try:
        return date.fromisoformat(request.form.get(name, "").strip())
    except ValueError:
        return None


def _labels() -> dict[str, Any]:
    return {
        "kind_labels": KIND_LABELS,
        "source_labels": ITEM_SOURCE_LABELS,
        "item_status": ITEM_STATUS,
        "outcome_labels": OUTCOME_LABELS,
        "create_labels": CREATE_LABELS,
        "step_labels": procedure.LABELS,
    }


# ---------------------------------------------------------------- councils


def _councils_page(errors: dict[str, str] | None = None, status: int = 200) -> Any:
    member, session = staff(), db_session()
    rows = list(session.scalars(councils.for_staff(member)))
    return page("console/participation/councils.html", status, rows=rows,
                names=place_names(session, member.community_id), errors=errors or {}, form=request.form)  # fmt: skip


@bp.get("/councils")
@signed_in
def councils_page() -> Any:
    """My community's councils and the form that sets one up."""
    _organiser()
    body = _councils_page()
    db_session().commit()
    return body


@bp.post("/councils")
@signed_in
def create_council() -> Any:
    """A council for the community, or for one of its estates."""
    _organiser()
    session = db_session()
    raw = request.form.get("estate_id", "").strip()
    try:
        council = councils.create_council(session, staff(), name=request.form.get("name", "")[:100],
                                          estate_id=int(raw) if raw.isdigit() else None)  # fmt: skip
    except DomainError as e:
        session.rollback()
        body = _councils_page({"form": e.message}, e.status)
        session.rollback()
        return body
    record("create_council", "council", council.public_id)
    commit_and_enqueue(session)
    return redirect(url_for("console_pages.council_page", council_id=council.public_id), code=303)


def _council_page(council_id: str, errors: dict[str, str] | None = None, status: int = 200) -> Any:
    member, session = staff(), db_session()
    council = councils.get_for_staff(session, member, council_id)
    return page("console/participation/council.html", status, council=councils.view(session, council),
                kinds=MEMBER_KINDS, errors=errors or {}, form=request.form, **_labels())  # fmt: skip


@bp.get("/councils/<council_id>")
@signed_in
def council_page(council_id: str) -> Any:
    """A council: members, meetings with agenda, attendance and minutes, and its items."""
    _organiser()
    body = _council_page(council_id)
    db_session().commit()
    return body


def _council_change(council_id: str, key: str, change: Any) -> Any:
    """Run one change of a council; a refusal re-renders the council page with the message by its form."""
    _organiser()
    member, session = staff(), db_session()
    council = councils.get_for_staff(session, member, council_id)
    try:
        done = change(session, member, council)
    except DomainError as e:
        session.rollback()
        body = _council_page(council_id, {key: e.message}, e.status)
        session.rollback()
        return body
    record(f"council_{key}", "council", council.public_id, id=getattr(done, "id", None))
    commit_and_enqueue(session)
    if isinstance(done, CouncilItem):
        return redirect(url_for("console_pages.item_page", item_id=done.public_id), code=303)
    return redirect(url_for("console_pages.council_page", council_id=council_id, _anchor=key), code=303)


@bp.post("/councils/<council_id>/members")
@signed_in
def add_member(council_id: str) -> Any:
    """Seat a member of one of the six kinds."""
    form = request.form
    return _council_change(council_id, "member", lambda s, m, c: councils.add_member(
        s, m, c, name=form.get("name", "")[:50], kind=form.get("kind", ""),
        organisation=form.get("organisation", "")[:100]))  # fmt: skip


@bp.post("/councils/<council_id>/meetings")
@signed_in
def schedule_meeting(council_id: str) -> Any:
    """Call a meeting with its agenda (one item a line)."""
    form = request.form

    def change(s: Any, m: Any, c: Council) -> Any:
        raw = form.get("held_at", "").strip()
        try:
            held_at = datetime.fromisoformat(raw).replace(tzinfo=clock.LOCAL_TZ)
        except ValueError:
            raise DomainError("请填写会议时间", code="invalid_held_at") from None
        return councils.schedule_meeting(s, m, c, title=form.get("title", "")[:100], held_at=held_at,
                                         agenda=form.get("agenda", "").splitlines()[:50],
                                         location=form.get("location", "")[:100])  # fmt: skip

    return _council_change(council_id, "meeting", change)


@bp.post("/meetings/<int:meeting_id>/record")
@signed_in
def record_meeting(meeting_id: int) -> Any:
    """Attendance (members ticked present) and the minutes of a meeting."""
    _organiser()
    member, session = staff(), db_session()
    meeting = councils.get_meeting(session, member, meeting_id)
    council = session.get(Council, meeting.council_id)
    assert council is not None  # foreign key
    present = [int(v) for v in request.form.getlist("present") if v.isdigit()]
    return _council_change(council.public_id, f"minutes-{meeting_id}", lambda s, m, c: councils.record_meeting(
        s, m, meeting, present_member_ids=present, minutes=request.form.get("minutes", "")[:20000]))  # fmt: skip


@bp.post("/councils/<council_id>/items")
@signed_in
def add_item(council_id: str) -> Any:
    """Put a matter before the council (from an appeal, a proposal or a need by its number, or from staff)."""
    form = request.form

    def change(s: Any, m: Any, c: Council) -> Any:
        raw = form.get("meeting_id", "").strip()
        meeting = councils.get_meeting(s, m, int(raw)) if raw.isdigit() else None
        return councils.add_item(s, m, c, title=form.get("title", "")[:100],
                                 description=form.get("description", "")[:5000],
                                 source_type=form.get("source_type", "staff"),
                                 source_id=form.get("source_id", "").strip()[:32] or None,
                                 major=form.get("major") == "1", meeting=meeting)  # fmt: skip

    return _council_change(council_id, "item", change)


# ---------------------------------------------------------------- the decision page


def _item_page(item_id: str, errors: dict[str, str] | None = None, status: int = 200) -> Any:
    member, session = staff(), db_session()
    item = councils.get_item(session, member, item_id)
    council = session.get(Council, item.council_id)
    assert council is not None  # foreign key
    source = session.get(Proposal, item.proposal_id) if item.proposal_id else None
    return page("console/participation/item.html", status, item=procedure.view(session, item), council=council,
                source_proposal=source, steps=procedure.STEPS, deliberations=procedure.DELIBERATIONS,
                today=clock.local_now().date().isoformat(), errors=errors or {}, form=request.form,
                **_labels())  # fmt: skip


@bp.get("/items/<item_id>")
@signed_in
def item_page(item_id: str) -> Any:
    """An item's decision: 四议两公开 step by step (each dated with its outcome), or the decision of a minor item."""
    _organiser()
    body = _item_page(item_id)
    db_session().commit()
    return body


def _item_change(item_id: str, action: str, change: Any) -> Any:
    _organiser()
    member, session = staff(), db_session()
    item = councils.get_item(session, member, item_id, for_update=True)
    try:
        change(session, member, item)
    except DomainError as e:
        session.rollback()
        body = _item_page(item_id, {"step": e.message}, e.status)
        session.rollback()
        return body
    record(action, "council_item", item.public_id, step=request.form.get("step"))
    commit_and_enqueue(session)  # the publications' pushes reach RQ after the commit
    return redirect(url_for("console_pages.item_page", item_id=item_id), code=303)


def _held_on() -> date:
    held_on = _date("held_on")
    if held_on is None:
        raise DomainError("请填写日期", code="invalid_date")
    return held_on


@bp.post("/items/<item_id>/steps")
@signed_in
def record_step(item_id: str) -> Any:
    """Record the next deliberation with its date and outcome (refused out of order)."""
    form = request.form
    return _item_change(item_id, "record_step", lambda s, m, i: procedure.deliberate(
        s, m, i, form.get("step", ""), held_on=_held_on(), outcome=form.get("outcome", ""),
        note=form.get("note", "")[:5000]))  # fmt: skip


@bp.post("/items/<item_id>/publish")
@signed_in
def publish_step(item_id: str) -> Any:
    """决议公开 / 实施结果公开: a notice pushed to the residents in scope; the resolution may create a proposal."""
    form = request.form
    proposal = need = None
    if form.get("create") == "proposal":
        proposal = {"title": form.get("proposal_title", "")[:100], "description": form.get("text", "")[:5000],
                    "rough_cost_yuan": int(form.get("rough_cost_yuan", "0") or 0)
                    if form.get("rough_cost_yuan", "0").isdigit() else 0}  # fmt: skip
    elif form.get("create") == "need":
        need = _need_details()
    return _item_change(item_id, "publish_step", lambda s, m, i: procedure.publish(
        s, m, i, form.get("step", ""), held_on=_held_on(), text=form.get("text", "")[:5000],
        proposal=proposal, need=need))  # fmt: skip


def _need_details() -> dict[str, Any]:
    """The co-building need a decision posts, from the form (its title; the decision text describes it)."""
    raw = request.form.get("beneficiaries", "").strip()
    return {"title": request.form.get("proposal_title", "")[:100],
            "beneficiaries": int(raw) if raw.isdigit() and int(raw) < 1_000_000 else 0,
            "wanted_by": _date("wanted_by")}  # fmt: skip


@bp.post("/items/<item_id>/decide")
@signed_in
def decide_item(item_id: str) -> Any:
    """Decide an ordinary item; the decision may create a proposal, a co-building need or a notice."""
    form = request.form
    create = form.get("create") or None
    proposal = {"title": form.get("proposal_title", "")[:100]} if create == "proposal" else None
    need = _need_details() if create == "need" else None
    return _item_change(item_id, "decide_item", lambda s, m, i: procedure.decide(
        s, m, i, decision=form.get("decision", "")[:5000], create=create, proposal=proposal,
        need=need))  # fmt: skip
