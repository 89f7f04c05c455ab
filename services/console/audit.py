"""The audit log of the console pages: every state change a staff member makes is written here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.audit import AuditEntry


def record(
    session: Session,
    *,
    staff_id: int | None,
    action: str,
    object_type: str,
    object_id: str | int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append who did what to which object (the time comes from the project clock)."""
    entry = AuditEntry(
        staff_id=staff_id,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        detail=detail or {},
    )
    session.add(entry)
    session.flush()
    return entry


def entries(session: Session, *, staff_id: int | None = None, limit: int = 100) -> list[AuditEntry]:
    """The newest audit entries, optionally of one staff member."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if staff_id is not None:
        stmt = stmt.where(AuditEntry.staff_id == staff_id)
    return list(session.scalars(stmt))
