"""Staff who handle appeals, their roles, and the bearer tokens of the staff console."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin, utcnow

STAFF_ROLES = (
    "grid_worker",  # 网格员
    "grid_leader",  # 网格长
    "department_staff",
    "property_staff",
    "community_staff",
    "community_secretary",  # 社区书记: arbitration and the top of the escalation ladder
    "street_officer",
    "admin",
    "member_unit",  # 共建成员单位: a 兼职委员 acting for one unit (its resources, orders, evaluations only)
)


class Staff(TimestampMixin, Base):
    """Someone who handles appeals; scoped to a grid, department, property company or community."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    role: Mapped[str] = mapped_column(String(32), index=True)
    # The staff member's official-account openid, for template-message notifications.
    openid: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    # The same person in the mini-program (migration 0006): login finds the Staff by unionid or mini openid.
    unionid: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    miniapp_openid: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    phone: Mapped[str | None] = mapped_column(String(20), default=None)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), default=None, index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), default=None, index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), default=None, index=True)
    property_company_id: Mapped[int | None] = mapped_column(ForeignKey("property_company.id"), default=None, index=True)
    active: Mapped[bool] = mapped_column(default=True)


class StaffToken(Base):
    """A bearer token for the staff console; only its SHA-256 is stored."""

    __tablename__ = "staff_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    # Refused from this moment on (HONGGUAN_STAFF_TOKEN_TTL after issue, or `hongguan staff-token --ttl`).
    expires_at: Mapped[datetime] = mapped_column()
