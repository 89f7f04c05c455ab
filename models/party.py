"""Party members (党员报到): registration with the community where they live, verified by staff."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin

PARTY_CATEGORIES = ("在职", "离退休", "流动")


class PartyMember(TimestampMixin, Base):
    """A party member registered with their residence community; call-ups reach verified members."""

    __tablename__ = "party_member"
    __table_args__ = (
        CheckConstraint("category IN ('在职', '离退休', '流动')", name="category_known"),
        CheckConstraint("status IN ('pending', 'verified', 'rejected')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), unique=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), default=None, index=True)
    category: Mapped[str] = mapped_column(String(8))
    # The member's own party organisation (personal data: masked in public views and logs).
    organisation: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    verified_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    verified_at: Mapped[datetime | None] = mapped_column(default=None)
