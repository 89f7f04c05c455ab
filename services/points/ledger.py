"""Volunteer points (积分制管理): task categories, submissions and review, and the append-only ledger.

Ledger design:
- `points_ledger` is append-only (database triggers refuse UPDATE/DELETE); every row has its source
  (`source_type`, `source_id`) and a UNIQUE `idempotency_key`, claimed with INSERT … ON CONFLICT DO NOTHING,
  so a retried award or a replayed request can never post twice.
- `points_account.balance` is a cached projection updated in the same transaction with a conditional
  `UPDATE … SET balance = balance + :delta WHERE balance + :delta >= 0`, which also takes the row lock that
  serialises a resident's spending on PostgreSQL; `CHECK (balance >= 0)` is the backstop.
  `reconcile()` proves cached == SUM(ledger) for every account.
- Single-entry, deliberately: there is exactly one kind of asset (a resident's points) and every movement
  has one resident side; the other side ("community: issued", "partner: redeemed") is fully determined by
  `source_type`, so double-entry would double the rows without adding a check that the source columns and
  the reconciliation do not already give. The zero-sum view is a GROUP BY source_type away.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from infra import clock
from models import Grid, Resident, Staff
from models.points import (
    PartnerMember,
    PartnerUnit,
    PointsAccount,
    PointsLedger,
    TaskCategory,
    TaskSubmission,
)
from services.errors import Conflict, DomainError, Forbidden, InvalidTransition, NotFound

# ---------------------------------------------------------------- errors


class InsufficientPoints(Conflict):
    """The balance does not cover the debit."""

    code = "insufficient_points"


# ---------------------------------------------------------------- periods and QR tokens


def season_key(at: datetime | None = None) -> str:
    """The local (Asia/Shanghai) month of `at` (default now) as YYYY-MM: ledger period and ranking season."""
    local = (at or clock.now()).astimezone(clock.LOCAL_TZ)
    return f"{local.year:04d}-{local.month:02d}"


def cap_period_key(period: str, at: datetime) -> str:
    """The local cap bucket of `at`: 2026-11-20 (day), 2026-W47 (week), 2026-11 (month), 2026 (year)."""
    local = at.astimezone(clock.LOCAL_TZ)
    if period == "day":
        return local.date().isoformat()
    if period == "week":
        iso = local.isocalendar()
        return f"{iso.year:04d}-W{iso.week:02d}"
    if period == "month":
        return f"{local.year:04d}-{local.month:02d}"
    if period == "year":
        return f"{local.year:04d}"
    raise ValueError(f"unknown cap period {period!r}")


def new_nonce() -> str:
    """A random nonce for a single-use QR code."""
    return secrets.token_urlsafe(12)


def sign_qr(secret: str, kind: str, object_id: int, nonce: str) -> str:
    """A QR payload `<kind>.<id>.<nonce>.<mac>`: unforgeable without a lookup; single use is the DB's job."""
    body = f"{kind}.{object_id}.{nonce}"
    mac = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{body}.{mac}"


def verify_qr(secret: str, kind: str, token: str) -> tuple[int, str]:
    """Check a QR payload's signature and kind; return (object id, nonce) or raise DomainError."""
    parts = (token or "").strip().split(".")
    if len(parts) != 4 or parts[0] != kind or not parts[1].isdigit():
        raise DomainError("二维码无效：不是本类二维码", code="invalid_qr")
    expected = sign_qr(secret, kind, int(parts[1]), parts[2])
    if not hmac.compare_digest(expected, token.strip()):
        raise DomainError("二维码无效：签名不符", code="invalid_qr")
    return int(parts[1]), parts[2]


# ---------------------------------------------------------------- ledger


def _insert_ignore(session: Session, model: Any, values: dict[str, Any], conflict_cols: list[str]) -> Any:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: an atomic claim (never SELECT-then-INSERT)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(model).values(**values).on_conflict_do_nothing(index_elements=conflict_cols)
    return session.execute(stmt.returning(model.__table__.c[next(iter(model.__table__.primary_key)).name])).scalar()


def _ensure_account(session: Session, resident_id: int) -> None:
    _insert_ignore(session, PointsAccount, {"resident_id": resident_id, "balance": 0}, ["resident_id"])


@dataclass(frozen=True)
class Posting:
    """The result of a ledger posting: the row, and whether this call created it (False on a replay)."""

    entry: PointsLedger
    created: bool
    balance: int


def post(
    session: Session,
    resident_id: int,
    delta: int,
    *,
    kind: str,
    source_type: str,
    source_id: int | None,
    idempotency_key: str,
    reason: str = "",
    created_by_staff_id: int | None = None,
) -> Posting:
    """Append one ledger row and move the cached balance in the same transaction; replays change nothing.

    A debit that the balance does not cover raises InsufficientPoints and leaves nothing behind. Rows
    snapshot the resident's community and grid for rankings.
    """
    if delta == 0:
        raise DomainError("积分变动不能为 0", code="zero_delta")
    resident = session.get(Resident, resident_id)
    if resident is None:
        raise NotFound("居民不存在")
    now = clock.now()
    # A savepoint around claim + balance move: a refused debit leaves no trace even if the caller goes on.
    with session.begin_nested():
        entry_id = _insert_ignore(
            session,
            PointsLedger,
            {
                "resident_id": resident_id,
                "delta": delta,
                "kind": kind,
                "source_type": source_type,
                "source_id": source_id,
                "reason": reason[:200],
                "period_key": season_key(now),
                "community_id": resident.community_id,
                "grid_id": resident.grid_id,
                "idempotency_key": idempotency_key,
                "created_by_staff_id": created_by_staff_id,
                "created_at": now,
            },
            ["idempotency_key"],
        )
        if entry_id is not None:
            _ensure_account(session, resident_id)
            # The conditional update is the guard: on PostgreSQL it row-locks the account and re-checks the
            # predicate after waiting, so concurrent debits never take the balance below zero.
            new_balance = session.execute(
                update(PointsAccount)
                .where(PointsAccount.resident_id == resident_id, PointsAccount.balance + delta >= 0)
                .values(balance=PointsAccount.balance + delta, updated_at=now)
                .returning(PointsAccount.balance)
            ).scalar()
            if new_balance is None:
                raise InsufficientPoints(
                    f"积分不足：需要 {-delta} 分，当前余额 {balance_of(session, resident_id)} 分",
                    details={"needed": -delta},
                )
    if entry_id is None:  # already posted under this key: the first answer, no second effect
        entry = session.scalar(select(PointsLedger).where(PointsLedger.idempotency_key == idempotency_key))
        assert entry is not None
        if entry.resident_id != resident_id or entry.delta != delta:
            raise Conflict("幂等键已用于另一笔积分变动", code="idempotency_mismatch")
        return Posting(entry, False, balance_of(session, resident_id))
    entry = session.get(PointsLedger, entry_id)
    assert entry is not None
    return Posting(entry, True, int(new_balance))


def balance_of(session: Session, resident_id: int) -> int:
    """The resident's cached balance (0 without an account)."""
    return int(session.scalar(select(PointsAccount.balance).where(PointsAccount.resident_id == resident_id)) or 0)


def lock_account(session: Session, resident_id: int) -> PointsAccount | None:
    """Row-lock the resident's account for a multi-step spend (FOR UPDATE; SQLite holds the DB lock)."""
    return session.scalar(
        select(PointsAccount)
        .where(PointsAccount.resident_id == resident_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def ledger_of(session: Session, resident_id: int, *, limit: int = 50, offset: int = 0) -> list[PointsLedger]:
    """The resident's ledger, newest first."""
    return list(
        session.scalars(
            select(PointsLedger)
            .where(PointsLedger.resident_id == resident_id)
            .order_by(PointsLedger.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )


@dataclass(frozen=True)
class Mismatch:
    """An account whose cached balance differs from the sum of its ledger rows."""

    resident_id: int
    cached: int
    ledger_sum: int


def reconcile(session: Session) -> list[Mismatch]:
    """Compare every cached balance with SUM(ledger); an empty list proves them all equal."""
    sums = dict(
        session.execute(
            select(PointsLedger.resident_id, func.sum(PointsLedger.delta)).group_by(PointsLedger.resident_id)
        ).all()
    )
    cached = dict(session.execute(select(PointsAccount.resident_id, PointsAccount.balance)).all())
    out = []
    for resident_id in sorted(set(sums) | set(cached)):
        a, b = int(cached.get(resident_id, 0)), int(sums.get(resident_id, 0) or 0)
        if a != b:
            out.append(Mismatch(resident_id, a, b))
    return out


# ---------------------------------------------------------------- task categories

DEFAULT_CATEGORIES = [
    # code, name, standard points, max per period, period, description
    ("info_collection", "信息采集", 5, 20, "month", "入户走访、人口房屋信息采集核对"),
    ("hazard_inspection", "隐患排查", 10, 8, "month", "消防通道、电动车充电、高空坠物等隐患巡查"),
    ("help_in_need", "困难帮扶", 20, 8, "month", "探访独居老人、残疾人、困难家庭并提供帮助"),
    ("civilised_patrol", "文明劝导", 5, 10, "month", "垃圾分类督导、不文明行为劝导"),
    ("dispute_mediation", "矛盾调解", 30, 4, "month", "邻里纠纷调解（需网格长确认）"),
    ("emergency_response", "应急处置", 60, 2, "month", "防汛、疫情等应急值守（需社区二级审核）"),
]


def seed_task_categories(session: Session) -> dict[str, TaskCategory]:
    """Create the default task categories once (editable data afterwards); returns them by code."""
    existing = {c.code: c for c in session.scalars(select(TaskCategory))}
    for code, name, points, cap, period, description in DEFAULT_CATEGORIES:
        if code not in existing:
            existing[code] = TaskCategory(
                code=code,
                name=name,
                standard_points=points,
                max_per_period=cap,
                cap_period=period,
                description=description,
            )
            session.add(existing[code])
    session.flush()
    return existing


def list_categories(session: Session, *, include_inactive: bool = False) -> list[TaskCategory]:
    """Task categories by id."""
    stmt = select(TaskCategory).order_by(TaskCategory.id)
    if not include_inactive:
        stmt = stmt.where(TaskCategory.active.is_(True))
    return list(session.scalars(stmt))


# ---------------------------------------------------------------- submissions and review

MAX_PHOTOS = 9  # the mini-program's chooseMedia limit
REVIEWER_ROLES = ("grid_leader", "community_staff", "community_secretary", "admin")
SECOND_REVIEWER_ROLES = ("community_staff", "community_secretary", "admin")


def submit_task(
    session: Session,
    resident_id: int,
    category_id: int,
    *,
    text: str,
    photos: list[str],
    lat: float,
    lng: float,
    occurred_at: datetime | None = None,
) -> TaskSubmission:
    """A volunteer reports work done with text, photos and location; it waits for a grid leader's review."""
    resident = session.get(Resident, resident_id)
    if resident is None:
        raise NotFound("居民不存在")
    if not resident.is_volunteer:
        raise Forbidden("只有登记的志愿者可以提交积分任务", code="not_volunteer")
    category = session.get(TaskCategory, category_id)
    if category is None or not category.active:
        raise NotFound("任务类别不存在或已停用")
    text = (text or "").strip()
    if len(text) < 5:
        raise DomainError("请用至少 5 个字描述完成的工作", code="text_too_short")
    photos = [p.strip() for p in photos or [] if p and p.strip()]
    if not photos:
        raise DomainError("请至少上传一张现场照片作为凭证", code="photo_required")
    if len(photos) > MAX_PHOTOS:
        raise DomainError(f"照片最多 {MAX_PHOTOS} 张", code="too_many_photos")
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise DomainError("定位无效，请重新获取位置", code="bad_location")
    now = clock.now()
    occurred = occurred_at or now
    if occurred > now:
        raise DomainError("完成时间不能晚于现在", code="future_work")
    if (now - occurred).days > 30:
        raise DomainError("只能提交 30 天内完成的工作", code="work_too_old")
    submission = TaskSubmission(
        resident_id=resident_id,
        category_id=category.id,
        community_id=resident.community_id,
        grid_id=resident.grid_id,
        text=text[:2000],
        photos=photos,
        lat=lat,
        lng=lng,
        occurred_at=occurred,
        points=category.standard_points,
        status="pending",
        period_key=cap_period_key(category.cap_period, occurred),
    )
    session.add(submission)
    session.flush()
    return submission


def _reviewer(session: Session, staff_id: int, submission: TaskSubmission, roles: tuple[str, ...]) -> Staff:
    staff = session.get(Staff, staff_id)
    if staff is None or not staff.active or staff.role not in roles:
        raise Forbidden("无权审核志愿积分任务", code="not_reviewer")
    if staff.role == "grid_leader":
        if submission.grid_id is None or staff.grid_id != submission.grid_id:
            raise Forbidden("只能审核本网格志愿者的任务", code="other_grid")
    elif submission.community_id is not None and staff.community_id not in (None, submission.community_id):
        raise Forbidden("只能审核本社区志愿者的任务", code="other_community")
    return staff


def _same_person(session: Session, staff: Staff, reviewer_resident_id: int | None, resident_id: int) -> bool:
    """True when the reviewing staff member is the submitter (same login, or the same phone number)."""
    if reviewer_resident_id is not None and reviewer_resident_id == resident_id:
        return True
    resident = session.get(Resident, resident_id)
    return bool(staff.phone and resident is not None and resident.phone and staff.phone == resident.phone)


def review_task(
    session: Session,
    submission_id: int,
    reviewer_staff_id: int,
    *,
    approve: bool,
    note: str = "",
    reviewer_resident_id: int | None = None,
) -> TaskSubmission:
    """First or second review; the last required approval takes a cap slot and credits the ledger."""
    submission = session.scalar(
        select(TaskSubmission)
        .where(TaskSubmission.id == submission_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if submission is None:
        raise NotFound("任务提交不存在")
    if submission.status == "pending":
        stage, roles = "first", REVIEWER_ROLES
    elif submission.status == "awaiting_second_review":
        stage, roles = "second", SECOND_REVIEWER_ROLES
    else:
        raise InvalidTransition(f"该任务已审核（{submission.status}），不能重复审核")
    staff = _reviewer(session, reviewer_staff_id, submission, roles)
    if _same_person(session, staff, reviewer_resident_id, submission.resident_id):
        raise Forbidden("不能审核自己提交的任务", code="self_review")
    if stage == "second" and staff.id == submission.first_reviewer_id:
        raise Forbidden("二级审核须由另一位审核人完成", code="same_reviewer")
    if not approve and not note.strip():
        raise DomainError("驳回时请填写原因", code="reason_required")
    now = clock.now()
    if stage == "first":
        submission.first_reviewer_id, submission.first_reviewed_at = staff.id, now
    else:
        submission.second_reviewer_id, submission.second_reviewed_at = staff.id, now
    submission.review_note = note.strip()[:300]
    if not approve:
        submission.status = "rejected"
        session.flush()
        return submission
    category = session.get(TaskCategory, submission.category_id)
    assert category is not None
    if stage == "first" and submission.points > category.second_review_above:
        submission.status = "awaiting_second_review"
        session.flush()
        return submission
    _take_cap_slot(session, submission, category)
    posting = post(
        session,
        submission.resident_id,
        submission.points,
        kind="earn",
        source_type="task_submission",
        source_id=submission.id,
        idempotency_key=f"task_submission:{submission.id}",
        reason=f"{category.name}",
        created_by_staff_id=staff.id,
    )
    submission.status = "approved"
    submission.ledger_id = posting.entry.id
    session.flush()
    return submission


def _take_cap_slot(session: Session, submission: TaskSubmission, category: TaskCategory) -> None:
    """Claim the next numbered slot of (resident, category, period); the UNIQUE key makes the cap hold.

    The resident's account row is locked first so concurrent approvals count one after another (and the
    losers get a clean "cap reached"); the UNIQUE key stays the authority if anything slips past the lock.
    """
    _ensure_account(session, submission.resident_id)
    lock_account(session, submission.resident_id)
    used = session.scalar(
        select(func.count())
        .select_from(TaskSubmission)
        .where(
            TaskSubmission.resident_id == submission.resident_id,
            TaskSubmission.category_id == submission.category_id,
            TaskSubmission.period_key == submission.period_key,
            TaskSubmission.cap_slot.is_not(None),
        )
    )
    if used >= category.max_per_period:
        raise Conflict(
            f"已达上限：「{category.name}」每{_PERIOD_NAMES[category.cap_period]}最多计 "
            f"{category.max_per_period} 次积分",
            code="cap_reached",
        )
    session.flush()  # begin_nested() would flush pending changes outside the savepoint; do it first
    try:
        with session.begin_nested():
            submission.cap_slot = used + 1
            session.flush()
    except IntegrityError:
        # A concurrent approval took the same slot: the database refused the second one.
        submission.cap_slot = None
        raise Conflict("同一周期的积分名额刚被占用，请重试", code="cap_race") from None


_PERIOD_NAMES = {"day": "天", "week": "周", "month": "月", "year": "年"}


def review_queue_stmt(session: Session, staff_id: int) -> Select[Any]:
    """SELECT of submissions waiting for this staff member (their grid's first reviews, or community ones)."""
    staff = session.get(Staff, staff_id)
    if staff is None or not staff.active or staff.role not in REVIEWER_ROLES:
        raise Forbidden("无权审核志愿积分任务", code="not_reviewer")
    stmt = select(TaskSubmission).order_by(TaskSubmission.id)
    if staff.role == "grid_leader":
        return stmt.where(TaskSubmission.grid_id == staff.grid_id, TaskSubmission.status == "pending")
    stmt = stmt.where(TaskSubmission.status.in_(("pending", "awaiting_second_review")))
    if staff.community_id is not None:
        stmt = stmt.where(TaskSubmission.community_id == staff.community_id)
    return stmt


def review_queue(session: Session, staff_id: int, *, limit: int = 50, offset: int = 0) -> list[TaskSubmission]:
    """Submissions waiting for this staff member, oldest first."""
    return list(session.scalars(review_queue_stmt(session, staff_id).limit(limit).offset(offset)))


def submissions_of(session: Session, resident_id: int, *, limit: int = 50, offset: int = 0) -> list[TaskSubmission]:
    """A volunteer's own submissions, newest first."""
    return list(
        session.scalars(
            select(TaskSubmission)
            .where(TaskSubmission.resident_id == resident_id)
            .order_by(TaskSubmission.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )


# ---------------------------------------------------------------- partner units


def partner_id_for_resident(session: Session, resident_id: int) -> int | None:
    """The partner unit (联盟单位) this resident scans redemptions for, or None (used by login for roles)."""
    return session.scalar(
        select(PartnerMember.partner_id)
        .join(PartnerUnit, PartnerUnit.id == PartnerMember.partner_id)
        .where(PartnerMember.resident_id == resident_id, PartnerMember.active.is_(True))
        .where(PartnerUnit.active.is_(True))
        .order_by(PartnerMember.id)
        .limit(1)
    )


def partner_id_for_staff(session: Session, staff_id: int) -> int | None:
    """The partner unit a staff member scans redemptions for, or None."""
    return session.scalar(
        select(PartnerMember.partner_id)
        .join(PartnerUnit, PartnerUnit.id == PartnerMember.partner_id)
        .where(PartnerMember.staff_id == staff_id, PartnerMember.active.is_(True))
        .where(PartnerUnit.active.is_(True))
        .order_by(PartnerMember.id)
        .limit(1)
    )


def create_partner(session: Session, community_id: int, code: str, name: str, *, address: str = "") -> PartnerUnit:
    """Register a partner unit."""
    partner = PartnerUnit(community_id=community_id, code=code, name=name, address=address)
    session.add(partner)
    session.flush()
    return partner


def add_partner_member(
    session: Session, partner_id: int, *, resident_id: int | None = None, staff_id: int | None = None
) -> PartnerMember:
    """Allow a resident or staff member to scan redemption codes for the partner unit."""
    if (resident_id is None) == (staff_id is None):
        raise DomainError("请指定一位居民或一位工作人员", code="member_required")
    member = PartnerMember(partner_id=partner_id, resident_id=resident_id, staff_id=staff_id)
    session.add(member)
    session.flush()
    return member


def grid_name(session: Session, grid_id: int | None) -> str:
    """A grid's name, or empty."""
    if grid_id is None:
        return ""
    grid = session.get(Grid, grid_id)
    return grid.name if grid else ""


def count_accounts_stmt() -> Any:
    """SELECT COUNT(*) of points accounts (for the reconciliation report)."""
    return select(func.count()).select_from(PointsAccount)
