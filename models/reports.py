"""Generated reports (weekly 承办单 files) and the property companies' red/black list (红黑榜) snapshots."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow

REPORT_KINDS = ("weekly",)
RANKING_LISTS = ("red", "black", "middle", "unranked")  # 红榜, 黑榜, neither, fewer ratings than the minimum


class Report(Base):
    """A generated report file under INSTANCE_PATH/reports; one per (kind, community, period)."""

    __tablename__ = "report"
    __table_args__ = (UniqueConstraint("kind", "community_id", "period_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # weekly
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    period_key: Mapped[str] = mapped_column(String(16))  # ISO week, e.g. 2026-W47
    period_start: Mapped[datetime] = mapped_column()
    period_end: Mapped[datetime] = mapped_column()
    # Path relative to INSTANCE_PATH/reports, so the instance directory can move.
    filename: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column()
    appeal_count: Mapped[int] = mapped_column(default=0)
    notified_staff: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RankingSnapshot(Base):
    """One monthly computation of the property companies' red/black list, with its method and parameters."""

    __tablename__ = "ranking_snapshot"
    __table_args__ = (UniqueConstraint("kind", "period_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), default="property_company")
    period_key: Mapped[str] = mapped_column(String(16))  # YYYY-MM of the month it was computed for
    window_start: Mapped[datetime] = mapped_column()
    window_end: Mapped[datetime] = mapped_column()
    prior_mean: Mapped[float] = mapped_column()
    prior_weight: Mapped[float] = mapped_column()
    min_ratings: Mapped[int] = mapped_column()
    method: Mapped[str] = mapped_column(Text)  # the visible method text shown with the list
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RankingEntry(Base):
    """A property company's place in one snapshot."""

    __tablename__ = "ranking_entry"
    __table_args__ = (UniqueConstraint("snapshot_id", "property_company_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("ranking_snapshot.id"), index=True)
    property_company_id: Mapped[int] = mapped_column(ForeignKey("property_company.id"), index=True)
    rated: Mapped[int] = mapped_column(default=0)
    satisfied: Mapped[int] = mapped_column(default=0)  # 满意 + 基本满意
    raw_rate: Mapped[float | None] = mapped_column(default=None)
    score: Mapped[float] = mapped_column()  # Bayesian-smoothed satisfaction
    rank: Mapped[int | None] = mapped_column(default=None)  # None below the minimum number of ratings
    list: Mapped[str] = mapped_column(String(16))  # red | black | middle | unranked


class RankingChange(Base):
    """A logged change of a company's rank or list between two consecutive snapshots."""

    __tablename__ = "ranking_change"
    __table_args__ = (Index("ix_ranking_change_company", "property_company_id", "snapshot_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("ranking_snapshot.id"), index=True)
    previous_snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("ranking_snapshot.id"), default=None)
    property_company_id: Mapped[int] = mapped_column(ForeignKey("property_company.id"))
    from_rank: Mapped[int | None] = mapped_column(default=None)
    to_rank: Mapped[int | None] = mapped_column(default=None)
    from_list: Mapped[str | None] = mapped_column(String(16), default=None)
    to_list: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
