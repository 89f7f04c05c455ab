"""Participation cron job: publish the results of every ballot whose window has closed.

Registered in jobs/schedule.py every minute. Idempotent: a published ballot is never counted twice (its row is
locked and re-checked), so a second run finds nothing to do; exceptions propagate so RQ retries.
"""

from __future__ import annotations

import logging

from infra import clock
from infra.web import db_session
from services.participation import tally

log = logging.getLogger(__name__)


def publish_closed_ballots() -> int:
    """Publish the results of the ballots that have closed; returns how many were published."""
    session = db_session()
    published = tally.publish_due(session, now=clock.now())
    session.commit()
    if published:
        log.info("published the results of %d ballot(s): %s", len(published), published)
    return len(published)
