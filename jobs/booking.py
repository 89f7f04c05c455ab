"""Booking jobs for RQ's cron scheduler: release no-shows, expire waitlist offers, queue reminders.

Register (every 5 minutes is enough; each run is idempotent and picks up whatever a missed run left):
`jobs.booking.release_no_shows`, `jobs.booking.expire_offers`, `jobs.booking.send_reminders`. LibreBooking's
auto-release silently depended on a cron nobody ran (#1046): `last_runs()` reports when each last finished so
the health check can show a stale schedule.
"""

from __future__ import annotations

import logging

from flask import current_app
from redis.exceptions import RedisError

from infra import clock
from infra.web import db_session, get_redis
from jobs.outbox import commit_and_enqueue
from services.booking import venues as booking

log = logging.getLogger(__name__)

_LAST_RUN_KEY = "hongguan:booking:last_run:"
JOBS = ("release_no_shows", "expire_offers", "send_reminders")


def _policy() -> booking.BookingPolicy:
    return booking.BookingPolicy.from_settings(current_app.config)


def _mark(name: str) -> None:
    try:
        get_redis().set(_LAST_RUN_KEY + name, clock.now().isoformat())
    except RedisError:  # a heartbeat is best effort; the job's real work is already committed
        log.warning("could not record the %s heartbeat", name)


def release_no_shows() -> int:
    """Mark confirmed bookings not checked in after the grace period as no-shows, free them, record strikes."""
    session = db_session()
    released = booking.release_no_shows(session, now=clock.now(), policy=_policy())
    commit_and_enqueue(session)
    _mark("release_no_shows")
    if released:
        log.info("released %d no-show booking(s)", len(released))
    return len(released)


def expire_offers() -> int:
    """Expire waitlist offers not confirmed in time and offer the seats to the next in line."""
    session = db_session()
    n = booking.expire_offers(session, now=clock.now(), policy=_policy())
    commit_and_enqueue(session)  # offers to the next in line notify them through the outbox
    _mark("expire_offers")
    return n


def send_reminders() -> int:
    """Queue a reminder for each confirmed booking starting within the lead time (once per booking)."""
    session = db_session()
    ids = booking.queue_reminders(session, now=clock.now(), policy=_policy())
    commit_and_enqueue(session)
    _mark("send_reminders")
    return len(ids)


def last_runs() -> dict[str, str | None]:
    """When each booking job last finished (ISO time), for the health check."""
    redis = get_redis()
    return {name: (v.decode() if (v := redis.get(_LAST_RUN_KEY + name)) else None) for name in JOBS}
