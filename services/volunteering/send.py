"""The call-up send: freeze the audience into one row per person, then hand them to the outbox in batches.

Each person's notification is recorded through `services.notifications.notify.notify_resident` under the key
`callup-<id>`, so its delivery row (`OutboundMessage.idempotency_key = resident-<rid>:callup-<id>`) is unique
per (call-up, person): a batch redone after a crash records nothing new, and `jobs.notifications` never delivers a
keyed notification twice. The channel rule is the notification service's (wechat-protocol.md §3.2-3.3):

- a customer-service message inside the 48 h window after the person's last message
  (https://developers.weixin.qq.com/doc/service/api/customer/message/api_sendcustommessage);
- a mini-program subscribe message when the person holds a grant for the notice template
  (https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html);
- otherwise an official-account template message to followers
  (https://developers.weixin.qq.com/doc/service/api/notify/template/api_sendtemplatemessage.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, func, literal, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from infra import clock
from models.callup import Callup, CallupRecipient
from models.messages import OutboundMessage
from models.notify import SubscribeGrant
from models.resident import Resident
from services.errors import InvalidTransition
from services.notifications import notify
from services.notifications.outbox import defer
from services.organisation.organisers import organiser
from services.volunteering.callups import audience_stmt, get_callup, scope_grid

SEND_JOB = "jobs.callups.send_callup"
BATCH = 200
# A send still unfinished this long after it started lost its job (a worker died around it).
STUCK_AFTER = timedelta(minutes=5)


def notification_key(callup_id: int) -> str:
    """The notification key of a call-up (per person, the delivery ledger key adds the resident)."""
    return f"callup-{callup_id}"


def send_job_id(callup_id: int) -> str:
    """The stable RQ job id of a call-up's send."""
    return f"callup-send-{callup_id}"


def freeze_recipients(session: Session, callup: Callup) -> int:
    """Write the audience as it is now into callup_recipient (once; later runs keep the first list)."""
    if callup.recipients_frozen_at is None:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        people = audience_stmt(callup).order_by(None).subquery()
        # `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
        chosen = select(literal(callup.id, Integer), people.c.id).where(true())
        stmt = insert(CallupRecipient).from_select(["callup_id", "resident_id"], chosen)
        session.execute(stmt.on_conflict_do_nothing(index_elements=["callup_id", "resident_id"]))
        callup.recipients_frozen_at = clock.now()
        session.flush()
    return int(
        session.scalar(select(func.count()).select_from(CallupRecipient).where(CallupRecipient.callup_id == callup.id))
        or 0
    )


def start_send(session: Session, callup_id: int, staff_id: int) -> int:
    """Freeze the audience and record the send job (idempotent); returns how many people it goes to."""
    callup = get_callup(session, callup_id)
    organiser(session, staff_id, callup.community_id, scope_grid(callup.audience or {}))
    if callup.status != "open":
        raise InvalidTransition("倡议已结束，不能再发送")
    total = freeze_recipients(session, callup)
    defer(session, SEND_JOB, callup.id, job_id=send_job_id(callup.id))
    return total


def message_text(callup: Callup) -> str:
    """What the call-up says (the template's 20-character `thing` keeps its start)."""
    closes = clock.local_text(callup.signup_closes_at)
    return f"【倡议】{callup.title}：欢迎报名参加，{closes} 截止，名额有限，先到先得。请在小程序「志愿倡议」中报名。"


def queue_batch(session: Session, callup_id: int, *, miniapp_template: str = "", limit: int = BATCH) -> int:
    """Hand the next `limit` people to the outbox; returns how many (0 when everyone is queued)."""
    callup = session.get(Callup, callup_id)
    if callup is None or callup.status == "cancelled":
        return 0
    rows = session.execute(
        select(CallupRecipient, Resident)
        .join(Resident, Resident.id == CallupRecipient.resident_id)
        .where(CallupRecipient.callup_id == callup_id, CallupRecipient.queued_at.is_(None))
        .order_by(CallupRecipient.id)
        .limit(limit)
    ).all()
    if not rows:
        return 0
    text = message_text(callup)
    page = f"pages/callups/detail?id={callup.id}"
    granted = _granted(session, [r.miniapp_openid for _, r in rows if r.miniapp_openid], miniapp_template)
    now = clock.now()
    for _recipient, resident in rows:
        template = None
        if miniapp_template and resident.miniapp_openid in granted:
            template = {"kind": "mp_subscribe", "template_id": miniapp_template, "page": page}
        notify.notify_resident(
            session,
            resident.id,
            text,
            key=notification_key(callup.id),
            template=template,
            related=("callup", callup.id),
        )
    session.execute(
        update(CallupRecipient)
        .where(CallupRecipient.id.in_([recipient.id for recipient, _ in rows]))
        .values(queued_at=now)
        .execution_options(synchronize_session=False)
    )
    return len(rows)


def _granted(session: Session, openids: list[str], template_id: str) -> set[str]:
    if not openids or not template_id:
        return set()
    return set(
        session.scalars(
            select(SubscribeGrant.openid).where(
                SubscribeGrant.openid.in_(openids),
                SubscribeGrant.template_id == template_id,
                SubscribeGrant.remaining > 0,
            )
        )
    )


def unfinished_sends(session: Session, *, now: datetime) -> list[int]:
    """Open call-ups frozen more than STUCK_AFTER ago that still have recipients not handed to the outbox."""
    stmt = (
        select(CallupRecipient.callup_id)
        .join(Callup, Callup.id == CallupRecipient.callup_id)
        .where(
            CallupRecipient.queued_at.is_(None),
            Callup.status != "cancelled",
            Callup.recipients_frozen_at < now - STUCK_AFTER,
        )
        .distinct()
    )
    return sorted(session.scalars(stmt))


@dataclass(frozen=True)
class SendProgress:
    """How far a call-up's send has come."""

    recipients: int
    queued: int
    sent: int
    failed: int
    uncertain: int


def progress(session: Session, callup_id: int) -> SendProgress:
    """Recipients, handed to the outbox, and delivery outcomes from the delivery ledger."""
    recipients, queued = session.execute(
        select(func.count(), func.count(CallupRecipient.queued_at)).where(CallupRecipient.callup_id == callup_id)
    ).one()
    outcomes = dict(
        session.execute(
            select(OutboundMessage.status, func.count())
            .where(
                OutboundMessage.related_type == "callup",
                OutboundMessage.related_id == callup_id,
                OutboundMessage.idempotency_key.is_not(None),
            )
            .group_by(OutboundMessage.status)
        ).all()
    )
    return SendProgress(
        int(recipients), int(queued), int(outcomes.get("sent", 0)), int(outcomes.get("failed", 0)),
        int(outcomes.get("uncertain", 0)),
    )  # fmt: skip
