"""Notification state: subscribe-message grants per (openid, template).

WeChat grants one send per acceptance of wx.requestSubscribeMessage (or the OA subscription pop-up) per
template, and answers 43101 once it is used up, so hongguan counts grants itself and sends only with one.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin


class SubscribeGrant(TimestampMixin, Base):
    """How many one-time subscribe-message sends `openid` has granted for `template_id`."""

    __tablename__ = "subscribe_grant"
    __table_args__ = (
        UniqueConstraint("openid", "template_id"),
        CheckConstraint("remaining >= 0", name="remaining_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # A mini-program openid for subscribe/send, an official-account openid for bizsend.
    openid: Mapped[str] = mapped_column(String(64), index=True)
    template_id: Mapped[str] = mapped_column(String(64))
    remaining: Mapped[int] = mapped_column(default=0)
    granted_total: Mapped[int] = mapped_column(default=0)
    used_total: Mapped[int] = mapped_column(default=0)
