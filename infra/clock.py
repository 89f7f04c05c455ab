"""The one place that tells the time, so tests can move it (deadlines, reminders, rate limits)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

_frozen: datetime | None = None

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def now() -> datetime:
    """Current time as an aware UTC datetime (or the frozen test time)."""
    return _frozen if _frozen is not None else datetime.now(UTC)


def local_now() -> datetime:
    """Current time in the community's time zone."""
    return now().astimezone(LOCAL_TZ)


def freeze(at: datetime) -> None:
    """Stop the clock at `at` (aware); tests only."""
    if at.tzinfo is None:
        raise ValueError("freeze() needs an aware datetime")
    global _frozen
    _frozen = at.astimezone(UTC)


def advance(delta: timedelta) -> datetime:
    """Move a frozen clock forward; tests only."""
    global _frozen
    if _frozen is None:
        raise RuntimeError("advance() needs a frozen clock")
    _frozen = _frozen + delta
    return _frozen


def unfreeze() -> None:
    """Return to real time."""
    global _frozen
    _frozen = None


def local_text(value: datetime | None) -> str:
    """A time as residents read it in messages: "11月25日 10:00" in the community's time zone."""
    return value.astimezone(LOCAL_TZ).strftime("%m月%d日 %H:%M") if value is not None else ""
