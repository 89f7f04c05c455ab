"""Jobs for inbound pushes: run queued free text through intake or retry a failed push; fetch a profile.

Both take ids, run inside the worker's app context, are idempotent, and let exceptions propagate so RQ's
retries and failed-job registry work (docs/architecture.md, Jobs).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, select
from sqlalchemy.orm import Session, aliased

from bot import handlers
from bot.inbound import FAILED, JOB, QUEUED, UNREADABLE, job_id_for
from infra import clock
from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from jobs.queue import enqueue
from models.messages import InboundMessage
from models.outbox import PendingJob
from models.resident import Resident
from services.notifications.notify import STAFF_JOB, notify_resident, resident_ledger_key
from services.notifications.notify import job_id_for as job_id_for_notification
from services.notifications.outbox import deferred_job_ids
from wechat.client import oa_client
from wechat.xmlsafe import XmlError, parse_xml

log = logging.getLogger(__name__)


def process_inbound(inbound_id: int) -> str:
    """Handle a stored push outside the request and answer the resident through the customer-service API.

    Runs the free text the webhook queued (intake: classification, duplicates, routing, dispatch) and retries
    pushes whose inline handling failed. Earlier queued messages of the same sender are handled first, so a
    photo sent right after a description attaches to the appeal the description creates. Idempotent: a
    handled message is skipped, and the answer is recorded once per message (`notify_resident` key).
    """
    session = db_session()
    # The sender's earlier queued messages, found in one statement from this message's own row (none when it
    # is missing or no longer queued; _process_one then says which).
    this = aliased(InboundMessage)
    earlier = (
        select(InboundMessage.id)
        .join(this, and_(this.id == inbound_id, this.status == QUEUED, this.openid == InboundMessage.openid))
        .where(InboundMessage.status == QUEUED, InboundMessage.id < inbound_id)
        .order_by(InboundMessage.id)
    )
    ids = list(session.scalars(earlier))
    session.commit()  # end the read: on SQLite every transaction holds the write lock
    for earlier_id in ids:
        _process_one(session, earlier_id)
    return _process_one(session, inbound_id)


def _process_one(session: Session, inbound_id: int) -> str:
    # Re-read under the row lock (PostgreSQL; SQLite's BEGIN IMMEDIATE serialises anyway): two jobs that
    # reach the same message (its own, and a later message's catch-up) handle it once.
    row = session.get(InboundMessage, inbound_id, with_for_update=True, populate_existing=True)
    if row is None:
        session.commit()
        return "missing"
    if row.status == "handled":
        session.commit()
        return "already handled"
    if row.msg_type == UNREADABLE:  # only an operator's retry (bot/failed.py) can make it readable
        session.commit()
        return "unreadable"
    if not row.body:  # erased on unsubscribe: nothing left to handle, and nobody to answer
        row.status = "handled"
        row.handled_at = clock.now()
        session.commit()
        return "erased"
    try:
        fields = parse_xml(row.body)
    except XmlError as e:  # stored bodies were parsed once already; a failure here will not heal by retrying
        row.status = FAILED
        row.attempts = max(row.attempts + 1, MAX_RESUMES)  # left to an operator: the sweep passes it by
        row.last_error = f"XmlError: {e}"[:2000]
        session.commit()
        return "unparsable"
    ctx = handlers.Context(
        session=session, fields=fields, inbound=row, account_id=current_app.config["WECHAT_ACCOUNT_ID"],
        now=row.received_at,  # the 48 h window opened when the resident wrote, not when the worker ran
        default_community=str(current_app.config.get("DEFAULT_COMMUNITY") or ""),
    )  # fmt: skip
    try:
        handlers.prepare(ctx)
        text = handlers.dispatch(ctx)
    except Exception as e:
        session.rollback()
        row = session.get(InboundMessage, inbound_id, populate_existing=True)
        assert row is not None
        row.attempts += 1
        row.status = FAILED  # RQ retries it; later messages of the sender no longer wait for it
        row.last_error = f"{type(e).__name__}: {e}"[:2000]
        session.commit()
        raise
    row.attempts += 1
    row.status = "handled"
    row.handled_at = clock.now()
    resident = ctx.loaded_resident
    here: list[str] = []
    if text and resident is not None:
        key = f"inbound-{row.id}-answer"
        notify_resident(session, resident.id, text, key=key, related=("inbound_message", row.id))
        here.append(job_id_for_notification(resident_ledger_key(resident.id, key)))
    # The answer, then the alerts to the staff this message reached, are sent from this job: one job per
    # message instead of one per send. Anything else deferred (a profile fetch, later reminders) goes to RQ.
    here += _staff_alerts_due_now(session)
    commit_and_enqueue(session, run_here=here)
    return "handled"


def _staff_alerts_due_now(session: Session) -> list[str]:
    job_ids = deferred_job_ids(session)
    if not job_ids:
        return []
    stmt = select(PendingJob.job_id).where(
        PendingJob.job_id.in_(job_ids), PendingJob.func == STAFF_JOB, PendingJob.run_at.is_(None)
    )
    found = set(session.scalars(stmt))
    return [job_id for job_id in job_ids if job_id in found]


# Messages per job when the relay finds a backlog: RQ's own bookkeeping (about 16 Redis commands a job) is then
# paid once per ten messages, and ten messages are still a fraction of a second, so a second worker gets work
# as soon as a backlog builds and the last message of a batch waits little for the first nine.
PER_JOB = 10


def batch_job_id_for(inbound_ids: Sequence[int]) -> str:
    """The stable RQ job id of one batch of stored messages (the same ids give the same job)."""
    digest = hashlib.sha1(",".join(map(str, inbound_ids)).encode()).hexdigest()[:12]  # noqa: S324 - an id, not security
    return f"inbound-batch-{inbound_ids[0]}-{len(inbound_ids)}-{digest}"


def process_inbound_batch(inbound_ids: list[int]) -> str:
    """Handle several stored messages in one job, each exactly as `process_inbound` would, in id order.

    Each message is still idempotent by its row's state: a retry of the batch (after a worker died during it)
    skips the handled ones. A message that fails does not hold up the others: it is marked failed and handed to
    RQ as its own job (`process_inbound`, the usual retries and failed-job registry), and the batch goes on.
    """
    session = db_session()
    done: dict[str, int] = {}
    for inbound_id in inbound_ids:
        try:
            outcome = process_inbound(inbound_id)
        except Exception as e:
            session.rollback()
            log.warning("inbound %d failed in a batch (%s); handed to RQ on its own", inbound_id, type(e).__name__)
            enqueue(JOB, inbound_id, job_id=job_id_for(inbound_id), replace_idle=True)
            outcome = "failed"
        done[outcome] = done.get(outcome, 0) + 1
    return ", ".join(f"{n} {outcome}" for outcome, n in sorted(done.items()))


def sync_profile(resident_id: int) -> str:
    """Fetch the follower's profile (user/info) and keep its unionid, which joins the mini-program account."""
    session = db_session()
    resident = session.get(Resident, resident_id)
    if resident is None or resident.erased_at is not None or not resident.openid:
        return "skipped"
    info = oa_client().user_info(resident.openid)
    unionid = info.get("unionid")
    if unionid and resident.unionid != unionid:
        owner = session.scalar(select(Resident.id).where(Resident.unionid == unionid))
        if owner is None:
            resident.unionid = unionid
        else:
            # The mini-program created this person first; merging profiles is an explicit, audited operation.
            log.warning("unionid of resident %d already belongs to resident %d; not merged", resident.id, owner)
    session.commit()
    return "ok"


# A queued message normally leaves the queue within seconds; ten minutes covers RQ's retry backoff too.
STUCK_AFTER = timedelta(minutes=10)
MAX_RESUMES = 5  # attempts after which a failing message is left to a person (it stays visible as failed)


def resume_stuck(limit: int = 200) -> int:
    """Cron job: hand RQ again every stored message still unhandled long after it arrived; returns how many.

    The webhook stores first and the relay (jobs/relay.py) enqueues second. If the job is lost afterwards (a
    worker killed at the wrong instant, a Redis that lost its data), the row still says `queued` or `failed`:
    this sweep re-enqueues it under the same job id, replacing a job that is not running, and
    `process_inbound` skips handled rows. Pushes that could not be read, and messages whose retries are
    spent, stay failed for an operator (`hongguan inbound failed` / `retry`, bot/failed.py): retrying them
    here would only repeat the failure.
    """
    session = db_session()
    cutoff = clock.now() - STUCK_AFTER
    ids = list(
        session.scalars(
            select(InboundMessage.id)
            .where(InboundMessage.status.in_((QUEUED, FAILED)), InboundMessage.msg_type != UNREADABLE)
            .where(InboundMessage.received_at < cutoff, InboundMessage.attempts < MAX_RESUMES)
            .order_by(InboundMessage.id)
            .limit(limit)
        )
    )
    session.commit()
    for inbound_id in ids:
        enqueue(JOB, inbound_id, job_id=job_id_for(inbound_id), replace_idle=True)
    if ids:
        log.warning("re-enqueued %d stored message(s) that were still unhandled", len(ids))
    return len(ids)
