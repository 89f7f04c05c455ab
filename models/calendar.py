"""The working calendar: public holidays and make-up working days (调休), as rows."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class CalendarDay(Base):
    """An exception to the Monday–Friday week: a public holiday or a make-up working day (调休)."""

    __tablename__ = "calendar_day"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    is_workday: Mapped[bool] = mapped_column()
    # e.g. "国庆节" or "国庆节调休上班"; shown to staff when a deadline moves.
    name: Mapped[str] = mapped_column(String(50), default="")
