"""RQ jobs that deliver what services.notifications.notify recorded (thin: claim, plan, call WeChat, record).

Each job commits its claim, and which call it is about to make, before calling WeChat, so no database
transaction (on SQLite: the write lock) is held during an HTTP call. WeChatUnavailable and retryable API
errors, which prove nothing was delivered, propagate for RQ's retries; a key already `sent` is never sent
again, and neither is one whose delivery is `uncertain` (DeliveryUncertain: WeChat may have delivered it).

`resume_lost_deliveries` (cron) hands RQ again a delivery whose job was lost: RQ pops a job off its queue before
it records the job as started, so a worker killed between the two leaves it in no queue and no registry, and
RQ's own maintenance never runs it. The notification's ledger row says it is still unsettled; the same job id
is reused, replacing only a job that is neither running nor waiting, and the claim keeps it to one send.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from infra import clock
from infra.privacy import pseudonym
from infra.web import db_session
from jobs.queue import enqueue
from models.messages import OutboundMessage
from models.resident import Resident
from models.staff import Staff
from services.notifications import notify, outbox
from services.notifications.notify import Attempt, AttemptResult, DeliveryInFlight, NotifySettings
from wechat.client import (
    QUOTA_EXCEEDED,
    SUBSCRIBE_REFUSED,
    TOKEN_ERRCODES,
    DeliveryUncertain,
    OutsideServiceWindow,
    WeChatAPIError,
    WeChatUnavailable,
    miniapp_client,
    oa_client,
)

log = logging.getLogger(__name__)

# A broadcast chunk handed to RQ this long ago and not done was lost with a worker (RQ's own maintenance retries
# an abandoned job within about ten minutes; this catches one it dropped). Chunks older than a day are left:
# the notice is stale by then. Each chunk is resumed at most this many times.
BROADCAST_STUCK_AFTER = timedelta(minutes=15)
BROADCAST_RESUME_WITHIN = timedelta(days=1)
BROADCAST_MAX_RESUMES = 5

# Errors that may heal by themselves (a token race, the daily quota, the per-minute cap): let RQ retry later.
# 45011 "api minute-quota reach limit, must slower, retry next minute" (wechat-protocol.md §9.6).
MINUTE_QUOTA = 45011
RETRYABLE_ERRCODES = TOKEN_ERRCODES | {QUOTA_EXCEEDED, MINUTE_QUOTA}


def _send(attempt: Attempt) -> dict[str, Any]:
    """Make the WeChat call an attempt describes."""
    c = attempt.content
    if attempt.channel == "custom":
        return oa_client().send_text(attempt.openid, c["text"])
    if attempt.channel == "template":
        return oa_client().send_template(
            attempt.openid, attempt.template_id or "", c["data"], url=c.get("url"),
            miniprogram=c.get("miniprogram"), client_msg_id=c.get("client_msg_id"),
        )  # fmt: skip
    if attempt.channel == "subscribe":
        return oa_client().send_subscribe(
            attempt.openid, attempt.template_id or "", c["data"], page=c.get("page"),
            miniprogram=c.get("miniprogram"),
        )  # fmt: skip
    if attempt.channel == "mp_subscribe":
        return miniapp_client().send_mp_subscribe(
            attempt.openid, attempt.template_id or "", c["data"], page=c.get("page"),
            state=c.get("state") or "formal",
        )  # fmt: skip
    raise ValueError(f"unknown channel {attempt.channel!r}")


def _deliver(
    session: Session,
    ledger: OutboundMessage,
    attempts: list[Attempt],
    settings: NotifySettings,
    *,
    resident_id: int | None = None,
    reason: str = "",
) -> str:
    """Try the attempts in order until one is delivered; record every call; commit after each step."""
    key = ledger.idempotency_key
    results: list[AttemptResult] = []
    for attempt in attempts:
        granted = attempt.channel in notify.GRANTED_CHANNELS
        if granted:
            took = notify.take_subscribe_grant(session, attempt.openid, attempt.template_id or "")
            if not took:
                session.commit()
                log.info("notify %s: no %s grant for %s", key, attempt.channel, pseudonym(attempt.openid))
                continue
        if not notify.is_marked(ledger, attempt):
            notify.mark_calling(session, ledger, attempt)
        session.commit()
        try:
            response = _send(attempt)
        except DeliveryUncertain as e:
            # WeChat may have delivered it: never resend or fall back to another channel; the grant and the
            # window budget count as spent, as WeChat would have counted them.
            results.append(AttemptResult(attempt, -1, f"uncertain: {e}"))
            if attempt.channel == "custom" and resident_id is not None:
                notify.note_cs_send(session, resident_id)
            notify.finish_delivery(session, ledger, results, sent=False, uncertain=True)
            session.commit()
            log.warning("notify %s: delivery by %s uncertain (%s); not resending", key, attempt.channel, e)
            return f"uncertain:{attempt.channel}"
        except WeChatUnavailable as e:
            results.append(AttemptResult(attempt, -1, f"unavailable: {e}"))
            if granted:
                notify.return_subscribe_grant(session, attempt.openid, attempt.template_id or "")
            notify.finish_delivery(session, ledger, results, sent=False)
            session.commit()
            raise
        except OutsideServiceWindow as e:
            results.append(AttemptResult(attempt, e.errcode, e.errmsg))
            if resident_id is not None:
                notify.note_window_closed(session, resident_id, settings.cs_budget)
            ledger.channel = "pending"  # WeChat refused it: no call in flight
            session.commit()
            continue
        except WeChatAPIError as e:
            results.append(AttemptResult(attempt, e.errcode, e.errmsg))
            if granted and e.errcode == SUBSCRIBE_REFUSED:
                notify.clear_subscribe_grant(session, attempt.openid, attempt.template_id or "")
            elif granted:
                notify.return_subscribe_grant(session, attempt.openid, attempt.template_id or "")
            if e.errcode in RETRYABLE_ERRCODES:
                notify.finish_delivery(session, ledger, results, sent=False)
                session.commit()
                raise
            ledger.channel = "pending"
            session.commit()
            continue  # a permanent refusal of this channel (unfollowed, bad template …): try the next one
        results.append(AttemptResult(attempt, 0, "ok", response.get("msgid")))
        if attempt.channel == "custom" and resident_id is not None:
            notify.note_cs_send(session, resident_id)
        notify.finish_delivery(session, ledger, results, sent=True)
        session.commit()
        return f"sent:{attempt.channel}"
    notify.finish_delivery(session, ledger, results, sent=False, reason=reason)
    session.commit()
    log.warning("notify %s: not delivered (%d call(s) failed)", key, len(results))
    return "undelivered"


def _first_call(attempts: list[Attempt]) -> Attempt | None:
    """The call a new claim can name at once: the first attempt, unless it needs a grant taken first."""
    if attempts and attempts[0].channel not in notify.GRANTED_CHANNELS:
        return attempts[0]
    return None


def _not_again(session: Session, ledger_key: str) -> str:
    """The claim found the notification sent, or its delivery uncertain: nothing is sent again."""
    row = notify.delivery_status(session, ledger_key)
    status = "already-sent" if row is None or row.status == "sent" else "uncertain"
    session.commit()
    log.info("notify %s: %s; not sending again", ledger_key, status)
    return status


def deliver_to_resident(
    resident_id: int,
    text: str,
    key: str,
    template: dict | None = None,
    related_type: str | None = None,
    related_id: int | None = None,
) -> str:
    """Deliver a resident notification once: customer-service message in the window, else a template."""
    settings = NotifySettings.from_config(current_app.config)
    session = db_session()
    ledger_key = notify.resident_ledger_key(resident_id, key)
    now = clock.now()
    resident = session.get(Resident, resident_id)
    attempts = (
        notify.plan_resident(
            resident, text, template, settings, now=now, client_msg_id=notify.client_msg_id_for(ledger_key)
        )
        if resident is not None
        else []
    )
    ledger = notify.claim_delivery(
        session, ledger_key, now=now, related=(related_type, related_id), calling=_first_call(attempts)
    )
    if ledger is None:
        return _not_again(session, ledger_key)
    # _deliver commits the claim together with the first call it marks, before WeChat is called.
    reason = "resident not found" if resident is None else "no channel can reach the resident"
    return _deliver(session, ledger, attempts, settings, resident_id=resident_id, reason=reason)


def deliver_to_staff(
    staff_id: int,
    key: str,
    title: str,
    fields: dict[str, str],
    related_type: str | None = None,
    related_id: int | None = None,
    urgent: bool = False,
) -> str:
    """Deliver a staff template-message alert once."""
    settings = NotifySettings.from_config(current_app.config)
    session = db_session()
    ledger_key = notify.staff_ledger_key(staff_id, key)
    staff = session.get(Staff, staff_id)
    attempts = (
        notify.plan_staff(
            staff, title, fields, settings, urgent=urgent, client_msg_id=notify.client_msg_id_for(ledger_key)
        )
        if staff is not None
        else []
    )
    ledger = notify.claim_delivery(
        session, ledger_key, now=clock.now(), related=(related_type, related_id), calling=_first_call(attempts)
    )
    if ledger is None:
        return _not_again(session, ledger_key)
    reason = "staff not found" if staff is None else "staff inactive, without openid, or no staff template"
    return _deliver(session, ledger, attempts, settings, reason=reason)


def deliver_to_residents(
    resident_ids: list[int],
    text: str,
    key: str,
    related_type: str | None = None,
    related_id: int | None = None,
    chunk: int = 0,
) -> dict[str, int]:
    """Deliver one chunk of a broadcast: each recipient once, in order, exactly as `deliver_to_resident` would.

    A chunk run again (RQ's retry, or its maintenance after a worker died mid-chunk) skips every recipient the
    ledger already settled, in one SELECT; a recipient whose send another run still holds is left for the
    retry this job raises at the end, after the rest of the chunk went out. WeChat unavailable, or a retryable
    error such as the daily quota, stops the chunk and propagates (RQ retries it later).
    """
    session = db_session()
    keys = {rid: notify.resident_ledger_key(rid, key) for rid in resident_ids}
    settled = notify.settled_keys(session, list(keys.values()))
    todo = [rid for rid in resident_ids if keys[rid] not in settled]
    # One SELECT for the chunk's residents: deliver_to_resident then finds each in the session (no per-row read).
    notify.load_residents(session, todo)
    outcomes: dict[str, int] = {"already-settled": len(resident_ids) - len(todo)} if settled else {}
    held: list[int] = []
    for rid in todo:
        try:
            outcome = deliver_to_resident(rid, text, key, None, related_type, related_id)
        except DeliveryInFlight:
            session.commit()  # the claim wrote nothing; end its transaction (and its row lock)
            held.append(rid)
            continue
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    if held:
        session.commit()
        raise DeliveryInFlight(f"broadcast {key}: {len(held)} recipient(s) being delivered by another run")
    outbox.mark_done(session, notify.broadcast_job_id(key, chunk), clock.now())
    session.commit()
    log.info("broadcast %s: %d recipient(s): %s", key, len(resident_ids), outcomes)
    return outcomes


def resume_broadcasts(limit: int = 200) -> int:
    """Cron job: hand RQ again every broadcast chunk still not done long after it was handed over; how many.

    The chunk's job id is reused (replacing a job that is neither running nor waiting) and the chunk skips
    every recipient already settled, so a resumed chunk sends only to those it had not reached.
    """
    session = db_session()
    now = clock.now()
    rows = outbox.undone(
        session,
        notify.BROADCAST_JOB,
        handed_before=now - BROADCAST_STUCK_AFTER,
        since=now - BROADCAST_RESUME_WITHIN,
        max_attempts=BROADCAST_MAX_RESUMES,
        limit=limit,
    )
    calls = [(row.job_id, list(row.args), row.queue) for row in rows]
    for row in rows:
        row.attempts += 1
    session.commit()
    for job_id, args, queue in calls:
        enqueue(notify.BROADCAST_JOB, *args, job_id=job_id, queue=queue, replace_idle=True)
    if calls:
        log.warning("re-enqueued %d broadcast chunk(s) whose job was lost", len(calls))
    return len(calls)


def resume_lost_deliveries() -> int:
    """Re-enqueue deliveries whose RQ job was lost around a worker crash; returns how many were handed over."""
    session = db_session()
    rows = notify.unsettled_deliveries(session, now=clock.now())
    jobs = [(row.func, list(row.args), dict(row.kwargs), row.job_id, row.queue) for row in rows]
    session.commit()
    handed = 0
    for func, args, kwargs, job_id, queue in jobs:
        # Redis errors propagate: the rows stay unsettled and the next sweep tries again.
        if enqueue(func, *args, job_id=job_id, queue=queue, replace_idle=True, **kwargs) is not None:
            handed += 1
    if handed:
        log.warning("%d notification job(s) lost around a worker crash handed to RQ again", handed)
    return handed
