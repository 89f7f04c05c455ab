"""Residents: one person across the official account and the mini-program."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin


class Resident(TimestampMixin, Base):
    """A resident keyed by openid (official account) and/or mini-program openid, joined by unionid."""

    __tablename__ = "resident"

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    miniapp_openid: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    unionid: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    name: Mapped[str | None] = mapped_column(String(50), default=None)
    phone: Mapped[str | None] = mapped_column(String(20), default=None)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), default=None, index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), default=None, index=True)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id"), default=None)
    room: Mapped[str | None] = mapped_column(String(20), default=None)
    is_volunteer: Mapped[bool] = mapped_column(default=False)
    subscribed: Mapped[bool] = mapped_column(default=False)
    subscribed_at: Mapped[datetime | None] = mapped_column(default=None)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(default=None)
    # When set, personal data was erased (unsubscribe); appeals keep pointing at this pseudonymous row.
    erased_at: Mapped[datetime | None] = mapped_column(default=None)
    # The customer-service window: WeChat allows a few messages within 48 h of the resident's last message.
    last_inbound_at: Mapped[datetime | None] = mapped_column(default=None)
    cs_sends_since_inbound: Mapped[int] = mapped_column(default=0)
    # A small dialogue state for multi-step chats (choosing estate/building, "which appeal is this about?").
    dialog_state: Mapped[str | None] = mapped_column(String(500), default=None)
