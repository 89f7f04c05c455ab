"""Points cron jobs: reconcile cached balances with the ledger, expire unclaimed rewards with a refund.

Register in jobs/schedule.py: `reconcile` nightly, `expire_redemptions` every few minutes. Both are
idempotent (a second run finds nothing to do) and let exceptions propagate so RQ retries them.
"""

from __future__ import annotations

import logging

from infra import clock
from infra.web import db_session
from services.points import ledger as points
from services.points import rewards

log = logging.getLogger(__name__)


class LedgerMismatch(RuntimeError):
    """A cached balance differs from SUM(ledger): the job fails loudly and lands in RQ's failed registry."""


def reconcile() -> int:
    """Prove cached balance == SUM(ledger) for every account (else LedgerMismatch); returns the count."""
    session = db_session()
    try:
        mismatches = points.reconcile(session)
        checked = session.scalar(points.count_accounts_stmt()) or 0
    finally:
        session.rollback()  # read-only: release the transaction (and SQLite's write lock) at once
    if mismatches:
        for m in mismatches[:20]:
            log.error(
                "points ledger mismatch: resident %s cached %s ledger %s",
                m.resident_id,
                m.cached,
                m.ledger_sum,
            )
        raise LedgerMismatch(f"{len(mismatches)} points account(s) differ from the ledger")
    log.info("points ledger reconciled: %d account(s), all equal", checked)
    return int(checked)


def expire_redemptions() -> int:
    """Expire reserved rewards past their pickup deadline, returning stock and points; returns the count."""
    session = db_session()
    count = rewards.expire_due(session, clock.now())
    session.commit()
    if count:
        log.info("expired and refunded %d redemption(s)", count)
    return count
