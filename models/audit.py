"""The audit log: who changed what from the staff console pages, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class AuditEntry(Base):
    """One state change made by a staff member (append-only)."""

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None, index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(32))  # sign_in, sign_out, revoke_session, accept, resolve …
    object_type: Mapped[str] = mapped_column(String(32))  # appeal, console_session …
    object_id: Mapped[str | None] = mapped_column(String(40), default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
