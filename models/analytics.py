"""The dashboards' summary of appeal KPIs: one row per appeal and dispatch segment, kept current from the event log.

Every count column holds one row's share of a KPI (0/1 flags, hours, returns) exactly as
`services.appeals.kpi` defines it, so a dashboard is a GROUP BY over this narrow table instead of a replay of
the whole event log. Times are seconds since 1970 (UTC): the same comparable number on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class KpiFact(Base):
    """One appeal's dispatch segment with its KPI shares (see services.appeals.analytics)."""

    __tablename__ = "kpi_fact"
    __table_args__ = (
        Index("ix_kpi_fact_community_id_created_s", "community_id", "created_s"),
        Index("ix_kpi_fact_created_s", "created_s"),
        Index("ix_kpi_fact_closed_s", "closed_s"),
        Index("ix_kpi_fact_overdue_s", "overdue_s"),
    )

    appeal_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seg: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    is_last: Mapped[int] = mapped_column(SmallInteger)
    community_id: Mapped[int | None] = mapped_column(default=None)
    category: Mapped[str | None] = mapped_column(String(32), default=None)
    created_s: Mapped[float] = mapped_column(Float)
    month: Mapped[int] = mapped_column()  # local (Asia/Shanghai) YYYYMM of the create event
    grid_id: Mapped[int | None] = mapped_column(default=None)
    department_id: Mapped[int | None] = mapped_column(default=None)
    property_company_id: Mapped[int | None] = mapped_column(default=None)
    closed_s: Mapped[float | None] = mapped_column(Float, default=None)  # last close, while closed (last row)
    overdue_s: Mapped[float | None] = mapped_column(Float, default=None)  # current deadline, missed or pending
    appeals: Mapped[int] = mapped_column(SmallInteger)
    consultations: Mapped[int] = mapped_column(SmallInteger)
    dispatched: Mapped[int] = mapped_column(SmallInteger)
    accepted_on_time: Mapped[int] = mapped_column(SmallInteger)
    closed: Mapped[int] = mapped_column(SmallInteger)
    closed_resolved: Mapped[int] = mapped_column(SmallInteger)
    resolved: Mapped[int] = mapped_column(SmallInteger)
    resolved_on_time: Mapped[int] = mapped_column(SmallInteger)
    rated: Mapped[int] = mapped_column(SmallInteger)
    satisfied: Mapped[int] = mapped_column(SmallInteger)
    resolve_samples: Mapped[int] = mapped_column(SmallInteger)
    hours_to_resolve: Mapped[float | None] = mapped_column(Float, default=None)
    returns: Mapped[int] = mapped_column(SmallInteger)
    reopens: Mapped[int] = mapped_column(SmallInteger)


class KpiFactRefresh(Base):
    """How far the summary has read the event log: events created at or after this time are re-read."""

    __tablename__ = "kpi_fact_refresh"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    refreshed_at: Mapped[datetime] = mapped_column()
