"""Call-up jobs: the resumable send, shift reminders and no-shows (thin: a service call, then commit).

`send_callup` hands the frozen recipient list to the outbox one batch per transaction. A worker killed mid-way
loses at most the uncommitted batch, which the next run (RQ's retry, or the sweeper re-enqueueing the same job
id) redoes: its notifications are keyed per (call-up, person), so nobody is recorded or sent twice.
"""

from __future__ import annotations

import logging

from flask import current_app

from infra import clock
from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from jobs.queue import enqueue
from services.volunteering import callups, send

log = logging.getLogger(__name__)

SEND_TIMEOUT = 900  # seconds: handing 10,000 people to the outbox takes well under a minute


def send_callup(callup_id: int) -> int:
    """Queue every not-yet-queued recipient of a call-up for delivery; returns how many this run queued."""
    template = str(current_app.config.get("MINIAPP_TEMPLATE_NOTICE") or "")
    session = db_session()
    total = 0
    while True:
        n = send.queue_batch(session, callup_id, miniapp_template=template)
        commit_and_enqueue(session)
        if n == 0:
            break
        total += n
    log.info("call-up %d: %d recipient(s) handed to the outbox", callup_id, total)
    return total


def resume_sends() -> int:
    """Re-enqueue the send of any call-up with recipients still unqueued a while after it started."""
    session = db_session()
    ids = send.unfinished_sends(session, now=clock.now())
    session.commit()
    for callup_id in ids:
        enqueue(send_callup, callup_id, job_id=send.send_job_id(callup_id), timeout=SEND_TIMEOUT, replace_idle=True)
    return len(ids)


def remind_shifts() -> int:
    """Remind confirmed volunteers of shifts starting soon (once per sign-up)."""
    session = db_session()
    n = callups.remind_upcoming(session)
    commit_and_enqueue(session)
    return n


def record_no_shows() -> int:
    """Record no-shows for shifts whose check-in has closed."""
    session = db_session()
    n = callups.record_no_shows(session)
    session.commit()
    return n
