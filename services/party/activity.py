"""先锋日志 (pioneer logs reviewed like volunteer tasks, feeding the points ledger), 行动支部 and community tags."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from infra import clock
from models.party import (
    ActionBranch,
    ActionBranchMember,
    CommunityTag,
    PartyHousehold,
    PartyMember,
    PioneerLog,
    TagAssignment,
)
from models.points import TaskCategory
from models.staff import Staff
from models.volunteer import VolunteerPost
from services.errors import Conflict, DomainError, Forbidden, InvalidTransition, NotFound
from services.organisation.organisers import ORGANISER_ROLES, may_follow, organiser
from services.points import ledger as points

MAX_PHOTOS = 9
TAG_TARGETS = ("party_member", "household", "post")


def _verified(session: Session, resident_id: int) -> PartyMember:
    member = session.scalar(select(PartyMember).where(PartyMember.resident_id == resident_id))
    if member is None or member.status != "verified":
        raise Conflict("党员报到核实后才能记录先锋日志", code="not_verified")
    return member


def log_entry(
    session: Session,
    resident_id: int,
    category_id: int,
    *,
    text: str,
    photos: list[str],
    lat: float,
    lng: float,
    occurred_at: datetime | None = None,
) -> PioneerLog:
    """A verified member logs what they did (category from the points standards); it waits for review."""
    member = _verified(session, resident_id)
    category = session.get(TaskCategory, category_id)
    if category is None or not category.active:
        raise NotFound("类别不存在或已停用")
    text = (text or "").strip()
    if len(text) < 5:
        raise DomainError("请用至少 5 个字描述所做的工作", code="text_too_short")
    photos = [p.strip() for p in photos or [] if p and p.strip()]
    if len(photos) > MAX_PHOTOS:
        raise DomainError(f"照片最多 {MAX_PHOTOS} 张", code="too_many_photos")
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise DomainError("定位无效，请重新获取位置", code="bad_location")
    now = clock.now()
    occurred = occurred_at or now
    if occurred > now:
        raise DomainError("时间不能晚于现在", code="future_work")
    if (now - occurred).days > 30:
        raise DomainError("只能记录 30 天内的工作", code="work_too_old")
    entry = PioneerLog(
        member_id=member.id, resident_id=resident_id, community_id=member.community_id, grid_id=member.grid_id,
        category_id=category.id, text=text[:2000], photos=photos, lat=lat, lng=lng, occurred_at=occurred,
        period_key=points.season_key(occurred), points=category.standard_points, status="pending",
    )  # fmt: skip
    session.add(entry)
    session.flush()
    return entry


def review_log(session: Session, log_id: int, staff_id: int, *, approve: bool, note: str = "") -> PioneerLog:
    """Grid staff approve (points credited once through the ledger) or reject (with a note) a log entry."""
    entry = session.scalar(
        select(PioneerLog).where(PioneerLog.id == log_id).with_for_update().execution_options(populate_existing=True)
    )
    if entry is None:
        raise NotFound("先锋日志不存在")
    organiser(session, staff_id, entry.community_id, entry.grid_id)
    if entry.status != "pending":
        raise InvalidTransition("该日志已审核")
    if not approve and not note.strip():
        raise DomainError("驳回时请说明原因", code="note_required")
    entry.status = "approved" if approve else "rejected"
    entry.reviewer_staff_id, entry.reviewed_at, entry.review_note = staff_id, clock.now(), note.strip()[:300]
    if approve:
        posting = points.post(
            session, entry.resident_id, entry.points, kind="earn", source_type="pioneer_log", source_id=entry.id,
            idempotency_key=f"pioneer_log:{entry.id}", reason="先锋日志", created_by_staff_id=staff_id,
        )  # fmt: skip
        entry.ledger_id = posting.entry.id
    session.flush()
    return entry


def pending_logs(session: Session, staff_id: int, *, limit: int = 100) -> list[PioneerLog]:
    """Log entries waiting for review that the staff member may review (grid staff: their grid's), oldest first."""
    staff = session.get(Staff, staff_id)
    if staff is None or not staff.active or staff.role not in ORGANISER_ROLES or staff.community_id is None:
        raise Forbidden("需要社区工作人员身份", code="not_organiser")
    stmt = select(PioneerLog).where(PioneerLog.community_id == staff.community_id, PioneerLog.status == "pending")
    if staff.role in ("grid_worker", "grid_leader"):
        stmt = stmt.where(PioneerLog.grid_id == staff.grid_id)
    return list(session.scalars(stmt.order_by(PioneerLog.id).limit(limit)))


def logs_of(session: Session, resident_id: int, *, limit: int = 50) -> list[PioneerLog]:
    """A member's own log, newest first."""
    return list(
        session.scalars(
            select(PioneerLog).where(PioneerLog.resident_id == resident_id).order_by(PioneerLog.id.desc()).limit(limit)
        )
    )


def branch_month_totals(session: Session, community_id: int, period_key: str) -> list[tuple[int | None, int, int]]:
    """Per grid branch for a month: (grid id, approved entries, points)."""
    rows = session.execute(
        select(PioneerLog.grid_id, func.count(), func.coalesce(func.sum(PioneerLog.points), 0))
        .where(
            PioneerLog.community_id == community_id,
            PioneerLog.period_key == period_key,
            PioneerLog.status == "approved",
        )
        .group_by(PioneerLog.grid_id)
        .order_by(PioneerLog.grid_id)
    )
    return [(g, int(n), int(p)) for g, n, p in rows]


def create_branch(
    session: Session,
    staff_id: int,
    *,
    community_id: int,
    name: str,
    goal: str,
    starts_on: date,
    ends_on: date,
    grid_id: int | None = None,
    member_ids: list[int] | None = None,
) -> ActionBranch:
    """Form an action branch (行动支部) for a task with a goal, a period and verified members."""
    organiser(session, staff_id, community_id, grid_id)
    if not name.strip() or not goal.strip():
        raise DomainError("请填写名称和目标", code="name_required")
    if ends_on < starts_on:
        raise DomainError("结束日期不能早于开始日期", code="period_ordered")
    branch = ActionBranch(
        community_id=community_id, grid_id=grid_id, name=name.strip()[:100], goal=goal.strip()[:500],
        starts_on=starts_on, ends_on=ends_on, progress=0, status="open",
    )  # fmt: skip
    session.add(branch)
    session.flush()
    for member_id in member_ids or []:
        add_branch_member(session, staff_id, branch.id, member_id)
    return branch


def _branch(session: Session, branch_id: int) -> ActionBranch:
    branch = session.get(ActionBranch, branch_id)
    if branch is None:
        raise NotFound("行动支部不存在")
    return branch


def branches_for_staff(session: Session, staff_id: int, *, limit: int = 100) -> list[ActionBranch]:
    """Action branches the staff member may see, open ones first, newest first."""
    staff = session.get(Staff, staff_id)
    if staff is None or staff.community_id is None:
        raise Forbidden("需要社区工作人员身份", code="not_organiser")
    rows = session.scalars(
        select(ActionBranch)
        .where(ActionBranch.community_id == staff.community_id)
        .order_by(ActionBranch.status != "open", ActionBranch.id.desc())
        .limit(limit)
    )
    return [b for b in rows if may_follow(staff, b.community_id, b.grid_id)]


def branch_members(session: Session, branch_id: int) -> list[PartyMember]:
    """The members of an action branch."""
    return list(
        session.scalars(
            select(PartyMember)
            .join(ActionBranchMember, ActionBranchMember.member_id == PartyMember.id)
            .where(ActionBranchMember.branch_id == branch_id)
            .order_by(ActionBranchMember.id)
        )
    )


def add_branch_member(session: Session, staff_id: int, branch_id: int, member_id: int) -> ActionBranchMember:
    """Add a verified member of the community (idempotent)."""
    branch = _branch(session, branch_id)
    organiser(session, staff_id, branch.community_id, branch.grid_id)
    member = session.get(PartyMember, member_id)
    if member is None or member.status != "verified" or member.community_id != branch.community_id:
        raise NotFound("党员不存在或未核实")
    row = session.scalar(
        select(ActionBranchMember).where(
            ActionBranchMember.branch_id == branch_id, ActionBranchMember.member_id == member_id
        )
    )
    if row is None:
        row = ActionBranchMember(branch_id=branch_id, member_id=member_id)
        session.add(row)
        session.flush()
    return row


def report_progress(session: Session, staff_id: int, branch_id: int, progress: int, note: str = "") -> ActionBranch:
    """Record progress (percent) of an open action branch."""
    branch = _branch(session, branch_id)
    organiser(session, staff_id, branch.community_id, branch.grid_id)
    if branch.status != "open":
        raise InvalidTransition("行动支部已结束")
    if not 0 <= progress <= 100:
        raise DomainError("进度须在 0 到 100 之间", code="bad_progress")
    branch.progress, branch.progress_note = progress, note.strip()[:300]
    session.flush()
    return branch


def close_branch(session: Session, staff_id: int, branch_id: int, result: str) -> ActionBranch:
    """Close an action branch with its result."""
    branch = _branch(session, branch_id)
    organiser(session, staff_id, branch.community_id, branch.grid_id)
    if branch.status != "open":
        raise InvalidTransition("行动支部已结束")
    if not result.strip():
        raise DomainError("请填写行动成果", code="result_required")
    branch.status, branch.result, branch.closed_at = "closed", result.strip()[:500], clock.now()
    session.flush()
    return branch


def define_tag(session: Session, staff_id: int, community_id: int, name: str, applies_to: str) -> CommunityTag:
    """A community's own label (党员示范户, 先锋岗 …); names are the community's data, not code."""
    organiser(session, staff_id, community_id, None)
    if applies_to not in TAG_TARGETS:
        raise DomainError(f"标签对象须为：{', '.join(TAG_TARGETS)}", code="bad_target")
    name = (name or "").strip()
    if not name:
        raise DomainError("标签名称不能为空", code="name_required")
    tag = CommunityTag(community_id=community_id, name=name[:30], applies_to=applies_to)
    try:
        with session.begin_nested():
            session.add(tag)
            session.flush()
    except IntegrityError as exc:
        raise Conflict("标签已存在", code="tag_exists") from exc
    return tag


def assign_tag(session: Session, staff_id: int, tag_id: int, target_id: int) -> TagAssignment:
    """Give a tag to a member, household or post of its kind (idempotent)."""
    tag = session.get(CommunityTag, tag_id)
    if tag is None:
        raise NotFound("标签不存在")
    organiser(session, staff_id, tag.community_id, None)
    target_model = {"party_member": PartyMember, "household": PartyHousehold, "post": VolunteerPost}[tag.applies_to]
    if session.get(target_model, target_id) is None:
        raise NotFound("标签对象不存在")
    row = session.scalar(
        select(TagAssignment).where(TagAssignment.tag_id == tag_id, TagAssignment.target_id == target_id)
    )
    if row is None:
        row = TagAssignment(tag_id=tag_id, target_id=target_id)
        session.add(row)
        session.flush()
    return row


def list_tags(session: Session, community_id: int) -> list[tuple[CommunityTag, int]]:
    """A community's tags with how many members, households or posts carry each."""
    counts = dict(session.execute(select(TagAssignment.tag_id, func.count()).group_by(TagAssignment.tag_id)).all())
    tags = session.scalars(
        select(CommunityTag).where(CommunityTag.community_id == community_id).order_by(CommunityTag.id)
    )
    return [(t, int(counts.get(t.id, 0))) for t in tags]


def tags_of(session: Session, applies_to: str, target_id: int) -> list[str]:
    """Names of the tags a member, household or post carries."""
    return list(
        session.scalars(
            select(CommunityTag.name)
            .join(TagAssignment, TagAssignment.tag_id == CommunityTag.id)
            .where(CommunityTag.applies_to == applies_to, TagAssignment.target_id == target_id)
            .order_by(CommunityTag.name)
        )
    )
