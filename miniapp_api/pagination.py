"""Pagination for list endpoints: `?page=1&page_size=20` (page_size ≤ 100) → `{items, page, page_size, total}`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")

MAX_PAGE_SIZE = 100


class PageQuery(BaseModel):
    """Query parameters of every paginated list; subclass it to add filters."""

    page: int = Field(1, ge=1, le=100_000, description="1-based page number")
    page_size: int = Field(20, ge=1, le=MAX_PAGE_SIZE, description=f"items per page, at most {MAX_PAGE_SIZE}")

    @property
    def offset(self) -> int:
        """Rows to skip."""
        return (self.page - 1) * self.page_size


class Page(BaseModel, Generic[T]):
    """One page of a list and the total count, so clients can show "n of N"."""

    items: list[T]
    page: int
    page_size: int
    total: int


def paginate(session: Session, stmt: Select[Any], query: PageQuery, serialize: Callable[[Any], Any]) -> dict[str, Any]:
    """Run `stmt` (already ordered) for one page; `serialize` turns each row (scalar) into a JSON-able item."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.scalars(stmt.limit(query.page_size).offset(query.offset)).all()
    return {
        "items": [serialize(r) for r in rows],
        "page": query.page,
        "page_size": query.page_size,
        "total": total,
    }
