"""和谐微实事 pages: screening residents' proposals, opening ballots and reading their results after the close,
the yearly budget and the funded projects' progress.

Every page calls the services the staff JSON API calls (`console/participation.py`); a refusal comes back as the
service's Chinese message, and nothing is saved when a service refuses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import redirect, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from console.pages.web import bp, page, record, signed_in, staff
from infra import clock
from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from models.micro_project import Proposal
from models.org import Building, Estate
from services.errors import Conflict, DomainError
from services.participation import ballots, projects, proposals, supports, tally
from services.participation import scope as scopes

STATUS_LABELS = {
    "gathering": "征集支持中",
    "expired": "征集未达标",
    "submitted": "待审核",
    "feasible": "可行",
    "merged": "已合并",
    "declined": "不采纳",
    "on_ballot": "投票中",
    "funded": "已立项",
    "not_funded": "未立项",
}
DECISION_LABELS = {"feasible": "可行", "merged": "与其他提议合并", "declined": "不采纳（须写明理由）"}
SCOPE_LABELS = {"community": "全社区", "estate": "小区", "building": "楼栋"}
RULE_LABELS = {"household": "每户一票（按绑定房号）", "resident": "每人一票"}
BALLOT_STATUS = {"upcoming": "未开始", "open": "投票中", "closed": "已截止"}
PROJECT_STATUS = {"funded": "已立项", "in_progress": "实施中", "completed": "已完工"}
SOURCE_LABELS = {"miniapp": "小程序", "chat": "公众号", "council": "议事会"}


def _organiser() -> None:
    """Only the roles that organise participation open these pages (the service's Chinese 403 otherwise)."""
    scopes.check_organiser(staff())


def place_names(session: Session, community_id: int | None) -> dict[str, dict[int, str]]:
    """Names of the community's estates and buildings, for scope labels and pickers."""
    estates = {e.id: e.name for e in session.scalars(select(Estate).where(Estate.community_id == community_id))}
    rows = session.execute(
        select(Building.id, Building.name, Building.estate_id)
        .where(Building.estate_id.in_(list(estates) or [-1]))
        .order_by(Building.estate_id, Building.id)
    )
    return {"estates": estates, "buildings": {bid: f"{estates[eid]} {name}" for bid, name, eid in rows}}


def where_label(names: dict[str, dict[int, str]], scope: str, estate_id: int | None, building_id: int | None) -> str:
    """A scope for people: 全社区, an estate's name, or an estate and building."""
    if scope == "building" and building_id:
        return names["buildings"].get(building_id, "楼栋")
    if scope == "estate" and estate_id:
        return names["estates"].get(estate_id, "小区")
    return SCOPE_LABELS["community"]


def _int(name: str, low: int = 0, high: int = 2**31 - 1) -> int | None:
    raw = request.form.get(name, "").strip()
    return int(raw) if raw.isdigit() and low <= int(raw) <= high else None


def _local_datetime(name: str) -> datetime | None:
    """A datetime-local field, read as Beijing time."""
    raw = request.form.get(name, "").strip()
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=clock.LOCAL_TZ) if raw else None
    except ValueError:
        return None


def _labels() -> dict[str, Any]:
    return {
        "status_labels": STATUS_LABELS,
        "scope_labels": SCOPE_LABELS,
        "rule_labels": RULE_LABELS,
        "ballot_status": BALLOT_STATUS,
        "project_status": PROJECT_STATUS,
        "source_labels": SOURCE_LABELS,
    }


# ---------------------------------------------------------------- proposals screening


def _proposals_page(errors: dict[str, str] | None = None, status: int = 200) -> Any:
    member, session = staff(), db_session()
    wanted = request.args.get("status", "submitted")
    wanted = wanted if wanted in STATUS_LABELS or wanted == "all" else "submitted"
    rows = list(session.scalars(proposals.for_staff(session, member, None if wanted == "all" else wanted).limit(200)))
    targets = [
        p
        for p in session.scalars(proposals.for_staff(session, member))
        if p.status in ("submitted", "feasible", "on_ballot", "funded")
    ]
    merged_titles = {p.id: p.title for p in session.scalars(select(Proposal).where(
        Proposal.id.in_([r.merged_into_id for r in rows if r.merged_into_id] or [-1])))}  # fmt: skip
    return page("console/participation/proposals.html", status, rows=rows, wanted=wanted, targets=targets,
                merged_titles=merged_titles, rule=proposals.support_rule(session, member.community_id),
                names=place_names(session, member.community_id), where_label=where_label,
                decisions=DECISION_LABELS, errors=errors or {}, form=request.form, **_labels())  # fmt: skip


@bp.get("/participation/proposals")
@signed_in
def proposals_page() -> Any:
    """The screening queue of my community's proposals (oldest first), filtered by state."""
    _organiser()
    body = _proposals_page()
    db_session().commit()
    return body


@bp.post("/participation/proposals/<proposal_id>/screen")
@signed_in
def screen_proposal(proposal_id: str) -> Any:
    """Feasible / merged into another proposal / declined with a reason; a refusal saves nothing."""
    _organiser()
    member, session = staff(), db_session()
    proposal = proposals.get_for_staff(session, member, proposal_id, for_update=True)
    decision = request.form.get("decision", "")
    target_id = request.form.get("merged_into", "").strip()
    try:
        target = proposals.get_for_staff(session, member, target_id) if decision == "merged" and target_id else None
        proposals.screen(session, member, proposal, decision, reason=request.form.get("reason"), merged_into=target)
    except DomainError as e:
        session.rollback()
        body = _proposals_page({proposal_id: e.message}, e.status)
        session.rollback()
        return body
    record("screen_proposal", "proposal", proposal.public_id, decision=decision)
    commit_and_enqueue(session)  # the proposer's notification reaches RQ after the commit
    return redirect(url_for("console_pages.proposals_page", status=request.args.get("status", "submitted")), code=303)


@bp.post("/participation/support-threshold")
@signed_in
def set_support_threshold() -> Any:
    """How many supports of residents of its scope a new proposal needs, within how many days, before screening."""
    _organiser()
    session = db_session()
    needed, days = _int("supports_needed", 0, supports.MAX_SUPPORTS_NEEDED), _int("window_days", 1, 365)
    try:
        if needed is None or days is None:
            raise DomainError("所需支持数须为 0 或正整数，征集期须为 1–365 天", code="invalid_threshold")
        rule = supports.set_threshold(session, staff(), supports_needed=needed, window_days=days)
    except DomainError as e:
        session.rollback()
        body = _proposals_page({"threshold": e.message}, e.status)
        session.rollback()
        return body
    record("set_support_threshold", "support_threshold", rule.id, supports_needed=needed, window_days=days)
    commit_and_enqueue(session)
    return redirect(url_for("console_pages.proposals_page"), code=303)


# ---------------------------------------------------------------- ballots


def _ballots_page(errors: dict[str, str] | None = None, status: int = 200) -> Any:
    member, session = staff(), db_session()
    now = clock.now()
    rows = [ballots.view(session, b, now=now) for b in session.scalars(ballots.for_staff(member).limit(100))]
    feasible = list(session.scalars(proposals.for_staff(session, member, "feasible")))
    return page("console/participation/ballots.html", status, rows=rows, feasible=feasible,
                names=place_names(session, member.community_id), where_label=where_label, errors=errors or {},
                form=request.form, **_labels())  # fmt: skip


@bp.get("/participation/ballots")
@signed_in
def ballots_page() -> Any:
    """My community's ballots and the form that opens one."""
    _organiser()
    body = _ballots_page()
    db_session().commit()
    return body


@bp.post("/participation/ballots")
@signed_in
def open_ballot() -> Any:
    """Open a ballot: its projects, scope, window, rule and how many choices a ballot holds."""
    member, session = staff(), db_session()
    _organiser()
    errors: dict[str, str] = {}
    status = 422
    opens_at, closes_at = _local_datetime("opens_at"), _local_datetime("closes_at")
    if opens_at is None:
        errors["opens_at"] = "请填写开始时间。"
    if closes_at is None:
        errors["closes_at"] = "请填写截止时间。"
    max_choices = _int("max_choices", 1, 50)
    if max_choices is None:
        errors["max_choices"] = "每张选票可选项目数须为 1–50。"
    if not errors:
        assert opens_at is not None
        assert closes_at is not None
        assert max_choices is not None
        try:
            ballot = ballots.open_ballot(
                session,
                member,
                title=request.form.get("title", "")[:100],
                scope=request.form.get("scope", ""),
                estate_id=_int("estate_id", 1),
                building_id=_int("building_id", 1),
                proposal_ids=request.form.getlist("proposals"),
                opens_at=opens_at,
                closes_at=closes_at,
                rule=request.form.get("rule", ""),
                max_choices=max_choices,
            )
        except DomainError as e:
            session.rollback()
            errors["form"] = e.message
            status = e.status
    if errors:
        body = _ballots_page(errors, status)
        session.rollback()
        return body
    record("open_ballot", "ballot", ballot.public_id, rule=ballot.rule, scope=ballot.scope)
    commit_and_enqueue(session)
    return redirect(url_for("console_pages.ballot_page", ballot_id=ballot.public_id), code=303)


@bp.get("/participation/ballots/<ballot_id>")
@signed_in
def ballot_page(ballot_id: str) -> Any:
    """A ballot: window, rule and options; after the close the results with counts and turnout.

    Before the close the page shows the service's refusal to count (votes are secret until then).
    """
    member, session = staff(), db_session()
    _organiser()
    ballot = ballots.get_for_staff(session, member, ballot_id)
    now = clock.now()
    results, refusal, again = None, None, None
    try:
        results = tally.results(session, ballot, now=now)
    except Conflict as e:
        refusal = e.message
    if results is not None and request.args.get("recount") == "1":
        again = tally.recount(session, ballot)
    recount_rows = []
    if again is not None and results is not None:
        by_option = {p.public_id: o.id for o, p in ballots.options(session, ballot)}
        recount_rows = [(o, again.counts.get(by_option[o["id"]], 0)) for o in results["options"]]
    body = page("console/participation/ballot.html", ballot=ballots.view(session, ballot, now=now),
                results=results, refusal=refusal, recount=again, recount_rows=recount_rows,
                names=place_names(session, member.community_id), where_label=where_label, **_labels())  # fmt: skip
    session.commit()  # the first look after the close publishes the results
    return body


@bp.get("/participation/ballots/<ballot_id>/results")
@signed_in
def ballot_results(ballot_id: str) -> Any:
    """The results alone: before the close this is the service's refusal as a Chinese 409 page."""
    member, session = staff(), db_session()
    _organiser()
    ballot = ballots.get_for_staff(session, member, ballot_id)
    tally.results(session, ballot, now=clock.now())
    session.commit()
    return redirect(url_for("console_pages.ballot_page", ballot_id=ballot_id), code=303)


# ---------------------------------------------------------------- budget and funded projects


def _year() -> int:
    raw = request.args.get("year", "")
    return int(raw) if raw.isdigit() and 2000 <= int(raw) <= 2100 else clock.local_now().year


def _projects_page(errors: dict[str, str] | None = None, status: int = 200) -> Any:
    member, session = staff(), db_session()
    year = _year()
    rows = [projects.view(session, p) for p in session.scalars(projects.for_staff(member).limit(200))]
    return page("console/participation/projects.html", status, year=year, budget=projects.budget_of(session, member,
                year), fundable=list(session.scalars(projects.fundable(member))), rows=rows, errors=errors or {},
                form=request.form, **_labels())  # fmt: skip


@bp.get("/participation/projects")
@signed_in
def projects_page() -> Any:
    """The year's budget against its cap, proposals that may be funded, and the funded projects."""
    _organiser()
    body = _projects_page()
    db_session().commit()
    return body


@bp.post("/participation/budget")
@signed_in
def set_budget() -> Any:
    """Set the community's micro-project budget cap for the year."""
    _organiser()
    member, session = staff(), db_session()
    year, cap = _year(), _int("cap_yuan", 1, 10_000_000_000)
    try:
        if cap is None:
            raise DomainError("年度预算须为正整数（元）", code="invalid_cap")
        budget = projects.set_budget(session, member, year=year, cap_yuan=cap)
    except DomainError as e:
        session.rollback()
        body = _projects_page({"budget": e.message}, e.status if cap is not None else 422)
        session.rollback()
        return body
    record("set_budget", "community_budget", budget.id, year=year, cap_yuan=cap)
    commit_and_enqueue(session)
    return redirect(url_for("console_pages.projects_page", year=year), code=303)


@bp.post("/participation/proposals/<proposal_id>/fund")
@signed_in
def fund_proposal(proposal_id: str) -> Any:
    """Fund a proposal from the year's budget (refused beyond the cap)."""
    _organiser()
    member, session = staff(), db_session()
    year, amount = _year(), _int("budget_yuan", 1, 10_000_000_000)
    proposal = proposals.get_for_staff(session, member, proposal_id, for_update=True)
    try:
        if amount is None:
            raise DomainError("立项金额须为正整数（元）", code="invalid_budget")
        project = projects.fund(session, member, proposal, budget_yuan=amount, year=year)
    except DomainError as e:
        session.rollback()
        body = _projects_page({proposal_id: e.message}, e.status if amount is not None else 422)
        session.rollback()
        return body
    record("fund_proposal", "micro_project", project.public_id, year=year, budget_yuan=amount)
    commit_and_enqueue(session)
    return redirect(url_for("console_pages.project_page", project_id=project.public_id), code=303)


def _project_page(project_id: str, errors: dict[str, str] | None = None, status: int = 200) -> Any:
    member, session = staff(), db_session()
    project = projects.get_for_staff(session, member, project_id)
    return page("console/participation/project.html", status, project=projects.view(session, project,
                with_updates=True), errors=errors or {}, form=request.form, **_labels())  # fmt: skip


@bp.get("/participation/projects/<project_id>")
@signed_in
def project_page(project_id: str) -> Any:
    """A funded project: budget, spending, progress reports with photos, and the progress form."""
    _organiser()
    body = _project_page(project_id)
    db_session().commit()
    return body


@bp.post("/participation/projects/<project_id>/progress")
@signed_in
def report_progress(project_id: str) -> Any:
    """A progress report with photos (one address a line); 100 % completes the project."""
    _organiser()
    member, session = staff(), db_session()
    project = projects.get_for_staff(session, member, project_id)
    percent, spent = _int("progress_percent", 0, 100), _int("spent_yuan", 0, 10_000_000_000)
    photos = [line.strip() for line in request.form.get("photos", "").splitlines() if line.strip()]
    try:
        if percent is None or spent is None:
            raise DomainError("进度须为 0–100 的整数，支出须为非负整数（元）", code="invalid_progress")
        if len(photos) > proposals.MAX_PHOTOS or any(not p.startswith(("https://", "http://")) for p in photos):
            raise DomainError(f"照片须为图片地址，每行一个，最多 {proposals.MAX_PHOTOS} 张", code="invalid_photos")
        projects.report_progress(session, member, project, note=request.form.get("note", ""),
                                 progress_percent=percent, spent_yuan=spent, photos=photos)  # fmt: skip
    except DomainError as e:
        session.rollback()
        body = _project_page(project_id, {"progress": e.message}, e.status)
        session.rollback()
        return body
    record("report_progress", "micro_project", project.public_id, progress_percent=percent)
    commit_and_enqueue(session)
    return redirect(url_for("console_pages.project_page", project_id=project_id), code=303)
