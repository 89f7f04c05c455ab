"""Who may administer which community from the console, and the errors an administration form shows.

Administration is for 管理员 (admin), 社区书记 and 社区工作人员. A community secretary or community staff member
administers their own community only; an admin bound to a community likewise, and an admin without one (the
street's or the platform's) administers every community and is the only one who creates communities.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.org import Community
from models.staff import Staff
from services.errors import Conflict, DomainError, Forbidden, NotFound

ADMIN_ROLES = ("admin", "community_secretary", "community_staff")


class InvalidField(DomainError):
    """A value a rule refused; `field` names the form field the message belongs next to."""

    status = 422
    code = "invalid_field"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, details={"field": field})
        self.field = field


class DuplicateField(Conflict):
    """A value that must be unique is already taken; `field` names the form field."""

    code = "duplicate"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, details={"field": field})
        self.field = field


def may_administer(member: Staff) -> bool:
    """Whether this staff member may open the administration pages at all."""
    return member.active and member.role in ADMIN_ROLES


def is_street_admin(member: Staff) -> bool:
    """An admin bound to no community: administers every community and creates new ones."""
    return member.role == "admin" and member.community_id is None


def require_admin(member: Staff) -> None:
    """Refuse anyone whose role does not administer a community."""
    if not may_administer(member):
        raise Forbidden("只有管理员、社区书记和社区工作人员可以使用管理功能。")


def communities_of(session: Session, member: Staff) -> list[Community]:
    """The communities this staff member administers, by code."""
    require_admin(member)
    stmt = select(Community).order_by(Community.code)
    if not is_street_admin(member):
        stmt = stmt.where(Community.id == member.community_id)
    return list(session.scalars(stmt))


def check_community(session: Session, member: Staff, community_id: int | None) -> Community:
    """The community `community_id` if this staff member administers it; Forbidden otherwise."""
    require_admin(member)
    community = session.get(Community, community_id) if community_id is not None else None
    if community is None:
        raise NotFound("没有这个社区。")
    if not is_street_admin(member) and community.id != member.community_id:
        raise Forbidden("这项内容属于其他社区，您只能管理本社区的内容。")
    return community


def clean(value: str | None, field: str, label: str, *, high: int, required: bool = True) -> str:
    """A trimmed text value within its length; InvalidField naming `field` otherwise."""
    text = (value or "").strip()
    if required and not text:
        raise InvalidField(field, f"请填写{label}。")
    if len(text) > high:
        raise InvalidField(field, f"{label}最多 {high} 个字。")
    return text
