"""Participation cron jobs: publish the results of every ballot whose window has closed, and end the gathering
of proposals whose support period has passed without enough supports.

Registered in jobs/schedule.py. Idempotent: a published ballot is never counted twice (its row is locked and
re-checked) and an expired proposal is no longer gathering, so a second run finds nothing to do; exceptions
propagate so RQ retries.
"""

from __future__ import annotations

import logging

from infra import clock
from infra.web import db_session
from services.participation import supports, tally

log = logging.getLogger(__name__)


def publish_closed_ballots() -> int:
    """Publish the results of the ballots that have closed; returns how many were published."""
    session = db_session()
    published = tally.publish_due(session, now=clock.now())
    session.commit()
    if published:
        log.info("published the results of %d ballot(s): %s", len(published), published)
    return len(published)


def expire_unsupported_proposals() -> int:
    """Move proposals whose support period has ended short of their threshold to `expired`; how many."""
    session = db_session()
    expired = supports.expire_due(session, now=clock.now())
    session.commit()
    if expired:
        log.info("%d proposal(s) ended their support period short of the threshold", expired)
    return expired
