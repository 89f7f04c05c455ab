"""Notifications: decide who is told what, on which WeChat channel, and make sure it happens once.

`notify_resident` / `notify_staff` record the intent in the outbox, in the same transaction as the change
that caused it; `jobs.notifications` delivers it later. Residents' channel rule
(https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html):

1. a customer-service message while the 48 h window after the resident's last message is open and its send
   budget (WECHAT_CS_BUDGET; WeChat has changed it before, so it is a setting) is not used up;
2. otherwise, or when WeChat answers 45015/45047, an official-account template message (or a subscription
   notification when the caller asks for one);
3. then a mini-program subscribe message, only while the resident holds a grant for that template.

Staff get template messages at their `Staff.openid`. Deliveries are idempotent through
`OutboundMessage.idempotency_key`: the keyed row is claimed before WeChat is called and says `sent` once a
channel has delivered; every other call to WeChat is kept as an unkeyed `failed` row beside it.

Delivery is at most once. A call whose outcome is unknown (WeChat may have delivered the message but its
answer never arrived, or the run died while the call was in flight) leaves the keyed row `uncertain`: it is
neither retried nor sent on another channel, which could give the resident the same message twice, and it is
never counted as sent. Operators find those rows by status. The one exception is a template message whose run
died mid-call: within WeChat's 10-minute client_msg_id dedupe it is called again under the same id, which
WeChat answers without sending a second copy.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from infra import clock
from models.messages import OutboundMessage
from models.notify import SubscribeGrant
from models.outbox import PendingJob
from models.resident import Resident
from models.staff import Staff
from services.errors import Conflict, NotFound
from services.notifications.outbox import defer, defer_many, deferred_job_ids

log = logging.getLogger(__name__)

RESIDENT_JOB = "jobs.notifications.deliver_to_resident"
STAFF_JOB = "jobs.notifications.deliver_to_staff"
BROADCAST_JOB = "jobs.notifications.deliver_to_residents"
# Recipients per broadcast job: 100 sends take 10 s at WeChat's 50–100 ms a call, well inside a job's timeout,
# and a job cut off (a killed worker) leaves at most one send uncertain and the rest of its chunk to resume.
BROADCAST_CHUNK = 100
# Broadcasts wait behind residents' own messages and staff alerts: workers take `low` last.
BROADCAST_QUEUE = "low"
MAX_KEY_LENGTH = 120
# A claim older than this belongs to a run that died mid-send (RQ re-runs abandoned jobs after minutes).
IN_FLIGHT_STALE = timedelta(minutes=2)
# A delivery job handed to RQ this long ago whose notification no run has settled lost its job: RQ takes a job
# off its queue before it records it as started, so a worker killed between the two leaves it in no queue and no
# registry, and RQ's maintenance never runs it again. Far longer than a worker takes to start a job it popped.
# Running it again is safe: a notification never claimed sent nothing, and claim_delivery settles a claim whose
# run died (taken over before a call, resent under its client_msg_id within WeChat's dedupe, else uncertain).
LOST_AFTER = timedelta(minutes=5)
# How far back the lost-job sweep looks (a day of sweeps every few minutes; older rows are for an operator).
LOST_LOOKBACK = timedelta(days=1)
LOST_BATCH = 500  # jobs handed over again per sweep, oldest first
# WeChat sends one template message per (openid, client_msg_id) within 10 minutes, so a template call that died
# in flight may be made again with the same client_msg_id inside that time (wechat-protocol.md §3.3):
# https://developers.weixin.qq.com/doc/service/api/notify/template/api_sendtemplatemessage.md
TEMPLATE_DEDUPE = timedelta(minutes=10)
TEMPLATE_KINDS = ("template", "subscribe", "mp_subscribe")
GRANTED_CHANNELS = frozenset({"subscribe", "mp_subscribe"})  # one send per user opt-in

# The generic resident notice template (OA template and mini-program subscribe): 通知内容 + 时间.
NOTICE_SLOTS = {"content": "thing1", "time": "time2"}
# The staff task template (工单处理提醒): semantic names callers may use in `fields`, and their keywords.
# Keyword names (thing3, time4 …) pass through as given; any other label is appended to the note.
STAFF_SLOTS = {
    "title": "thing1",
    "number": "character_string2",
    "summary": "thing3",
    "deadline": "time4",
    "note": "thing5",
}
_KEYWORD = re.compile(r"^[a-z_]+\d+$")
# A `time` keyword takes a 24-hour time with the date ("2019年10月1日 15:01"), and unlike `thing` (20 characters)
# it is not cut short, so deadlines go there in full, never into the note:
# https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html
TEMPLATE_TIME_FORMAT = "%Y年%m月%d日 %H:%M"


class DeliveryInFlight(Conflict):
    """Another run is delivering this notification right now; RQ retries this one later."""


@dataclass(frozen=True)
class NotifySettings:
    """The settings the channel rule needs (read from app config by the job, passed in as plain values)."""

    window: timedelta = timedelta(hours=48)
    cs_budget: int = 5
    notice_template: str = ""
    staff_template: str = ""
    miniapp_notice_template: str = ""
    miniapp_state: str = "formal"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> NotifySettings:
        """Build from hongguan's settings (infra.config.SETTINGS names)."""
        return cls(
            window=timedelta(hours=float(config.get("WECHAT_CS_WINDOW_HOURS", 48))),
            cs_budget=int(config.get("WECHAT_CS_BUDGET", 5)),
            notice_template=str(config.get("WECHAT_TEMPLATE_NOTICE") or ""),
            staff_template=str(config.get("WECHAT_TEMPLATE_STAFF_TASK") or ""),
            miniapp_notice_template=str(config.get("MINIAPP_TEMPLATE_NOTICE") or ""),
            miniapp_state=str(config.get("MINIAPP_STATE") or "formal"),
        )


@dataclass(frozen=True)
class Attempt:
    """One planned call to WeChat: the channel, the recipient and what to send."""

    channel: str  # custom | template | subscribe | mp_subscribe
    openid: str
    template_id: str | None = None
    content: dict[str, Any] = field(default_factory=dict)  # text, or data/url/miniprogram/page/client_msg_id

    def payload(self) -> dict[str, Any]:
        """What is recorded in OutboundMessage.payload (no None values)."""
        return {k: v for k, v in self.content.items() if v is not None}


@dataclass(frozen=True)
class AttemptResult:
    """What WeChat said to one attempt (errcode 0 = delivered; -1 = unreachable)."""

    attempt: Attempt
    errcode: int
    errmsg: str
    wx_msgid: int | None = None


# ---------------------------------------------------------------------------- recording intent


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"notification key must be 1..{MAX_KEY_LENGTH} characters")


def resident_ledger_key(resident_id: int, key: str) -> str:
    """The OutboundMessage.idempotency_key of a resident notification (keys are per recipient)."""
    return f"resident-{resident_id}:{key}"


def staff_ledger_key(staff_id: int, key: str) -> str:
    """The OutboundMessage.idempotency_key of a staff notification (keys are per recipient)."""
    return f"staff-{staff_id}:{key}"


def job_id_for(ledger_key: str) -> str:
    """A stable RQ job id for a ledger key (RQ allows only [A-Za-z0-9_-]; the hash keeps ids distinct)."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", ledger_key)[:120]
    return f"notify-{safe}-{hashlib.sha1(ledger_key.encode()).hexdigest()[:10]}"  # noqa: S324 - an id, not security


def client_msg_id_for(ledger_key: str) -> str:
    """The template message client_msg_id: WeChat drops a repeat of it within 10 minutes."""
    return hashlib.sha256(ledger_key.encode()).hexdigest()[:32]


def notify_resident(
    session: Session,
    resident_id: int,
    text: str,
    *,
    key: str,
    template: dict | None = None,
    related: tuple[str, int] | None = None,
) -> None:
    """Record that `resident_id` is to be told `text` (idempotent per key); jobs.notifications picks the channel.

    `template` describes the fallback used outside the customer-service window: {"kind": "template" |
    "subscribe" | "mp_subscribe", "template_id", "data", "url"?, "miniprogram"?, "page"?}; None means the
    generic notice template (WECHAT_TEMPLATE_NOTICE / MINIAPP_TEMPLATE_NOTICE) with `text` as its content.
    """
    _check_key(key)
    if not text or not text.strip():
        raise ValueError("notification text is empty")
    if template is not None:
        kind = template.get("kind", "template")
        if kind not in TEMPLATE_KINDS:
            raise ValueError(f"template kind must be one of {TEMPLATE_KINDS}, not {kind!r}")
        if kind != "template" and not template.get("template_id"):
            raise ValueError(f"a {kind} fallback needs a template_id")
    if session.get(Resident, resident_id) is None:
        raise NotFound(f"居民 {resident_id} 不存在")
    related_type, related_id = related or (None, None)
    ledger_key = resident_ledger_key(resident_id, key)
    defer(
        session,
        RESIDENT_JOB,
        resident_id,
        text,
        key,
        template,
        related_type,
        related_id,
        job_id=job_id_for(ledger_key),
    )


def broadcast_job_id(key: str, chunk: int) -> str:
    """The stable RQ job id of one chunk of a broadcast (a second recording of the same chunk is ignored)."""
    return job_id_for(f"broadcast:{key}:{chunk}")


def notify_residents(
    session: Session,
    resident_ids: Sequence[int],
    text: str,
    *,
    key: str,
    related: tuple[str, int] | None = None,
    chunk: int = BROADCAST_CHUNK,
) -> int:
    """Record that each of `resident_ids` is to be told `text` (a broadcast, idempotent per key); how many.

    The same notification as `notify_resident` for each of them (the same ledger key, the same channel rule),
    recorded as one outbox row per `chunk` recipients in ascending id order, so a notice to 50,000 residents is
    one INSERT of 500 rows rather than 50,000, and RQ carries 500 jobs. Each job sends one by one and checks each
    recipient against the delivery ledger, so a chunk that is run again sends nothing twice.
    """
    _check_key(key)
    if not text or not text.strip():
        raise ValueError("notification text is empty")
    if chunk < 1:
        raise ValueError("chunk must be positive")
    related_type, related_id = related or (None, None)
    ids = sorted(set(resident_ids))
    calls = [
        (broadcast_job_id(key, n), [ids[start : start + chunk], text, key, related_type, related_id, n])
        for n, start in enumerate(range(0, len(ids), chunk))
    ]
    defer_many(session, BROADCAST_JOB, calls, queue=BROADCAST_QUEUE)
    return len(ids)


def notify_staff(
    session: Session,
    staff_id: int,
    *,
    key: str,
    title: str,
    fields: dict[str, str],
    related: tuple[str, int] | None = None,
    urgent: bool = False,
) -> None:
    """Record a template-message alert for a staff member (idempotent per key; urgent ones jump the queue).

    `fields` use the staff template's names: number, summary, deadline, note (or raw keywords like thing3);
    other labels are appended to the note as "label：value".
    """
    _check_key(key)
    if not title:
        raise ValueError("notification title is empty")
    if session.get(Staff, staff_id) is None:
        raise NotFound(f"工作人员 {staff_id} 不存在")
    related_type, related_id = related or (None, None)
    defer(
        session,
        STAFF_JOB,
        staff_id,
        key,
        title,
        {str(k): str(v) for k, v in fields.items()},
        related_type,
        related_id,
        urgent,
        job_id=job_id_for(staff_ledger_key(staff_id, key)),
        queue="urgent" if urgent else "default",
    )


def queued_staff(session: Session, related: tuple[str, int]) -> list[Staff]:
    """Staff with a notification about `related` queued in the current transaction, in the order queued.

    Read back from the outbox rows themselves, so a reply that says who was told describes exactly the
    pushes that exist, whichever part of the code queued them.
    """
    job_ids = deferred_job_ids(session)
    if not job_ids:
        return []
    stmt = select(PendingJob.args).where(PendingJob.job_id.in_(job_ids), PendingJob.func == STAFF_JOB)
    staff_ids: list[int] = []
    for args in session.scalars(stmt.order_by(PendingJob.id)):
        # notify_staff's job arguments: staff_id, key, title, fields, related_type, related_id, urgent.
        if len(args) > 5 and (args[4], args[5]) == related and args[0] not in staff_ids:
            staff_ids.append(int(args[0]))
    found = {s.id: s for s in session.scalars(select(Staff).where(Staff.id.in_(staff_ids)))} if staff_ids else {}
    return [found[i] for i in staff_ids if i in found]


# ---------------------------------------------------------------------------- subscribe grants


def _insert(session: Session) -> Any:
    """The dialect's INSERT with ON CONFLICT support (PostgreSQL or SQLite)."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def record_subscribe_grant(session: Session, openid: str, template_id: str, count: int = 1) -> int:
    """Add `count` one-time grants for (openid, template_id) (the user accepted the subscribe pop-up)."""
    if count < 1:
        raise ValueError("count must be positive")
    now = clock.now()
    table = SubscribeGrant.__table__
    stmt = _insert(session)(SubscribeGrant).values(
        openid=openid, template_id=template_id, remaining=count, granted_total=count, used_total=0,
        created_at=now, updated_at=now,
    )  # fmt: skip
    stmt = stmt.on_conflict_do_update(
        index_elements=["openid", "template_id"],
        set_={
            "remaining": table.c.remaining + count,
            "granted_total": table.c.granted_total + count,
            "updated_at": now,
        },
    )
    session.execute(stmt)
    return remaining_grants(session, openid, template_id)


def remaining_grants(session: Session, openid: str, template_id: str) -> int:
    """Sends still granted for (openid, template_id)."""
    value = session.scalar(
        select(SubscribeGrant.remaining).where(
            SubscribeGrant.openid == openid, SubscribeGrant.template_id == template_id
        )
    )
    return int(value or 0)


def take_subscribe_grant(session: Session, openid: str, template_id: str) -> bool:
    """Use one grant before sending (a conditional UPDATE, so two senders cannot spend the same grant)."""
    result = session.execute(
        update(SubscribeGrant)
        .where(
            SubscribeGrant.openid == openid,
            SubscribeGrant.template_id == template_id,
            SubscribeGrant.remaining > 0,
        )
        .values(
            remaining=SubscribeGrant.remaining - 1,
            used_total=SubscribeGrant.used_total + 1,
            updated_at=clock.now(),
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def return_subscribe_grant(session: Session, openid: str, template_id: str) -> None:
    """Give back a grant whose send did not reach the user (WeChat unreachable or a non-grant error)."""
    session.execute(
        update(SubscribeGrant)
        .where(SubscribeGrant.openid == openid, SubscribeGrant.template_id == template_id)
        .values(
            remaining=SubscribeGrant.remaining + 1,
            used_total=case((SubscribeGrant.used_total > 0, SubscribeGrant.used_total - 1), else_=0),
            updated_at=clock.now(),
        )
        .execution_options(synchronize_session=False)
    )


def clear_subscribe_grant(session: Session, openid: str, template_id: str) -> None:
    """43101: WeChat says the grant is used up or refused, whatever we counted; trust WeChat."""
    session.execute(
        update(SubscribeGrant)
        .where(SubscribeGrant.openid == openid, SubscribeGrant.template_id == template_id)
        .values(remaining=0, updated_at=clock.now())
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------------------- the window


def oa_reachable(resident: Resident) -> bool:
    """The resident can get official-account messages (has an openid, follows us, not erased)."""
    if not resident.openid or resident.erased_at is not None:
        return False
    return not (resident.unsubscribed_at is not None and not resident.subscribed)


def in_service_window(resident: Resident, now: datetime, settings: NotifySettings) -> bool:
    """Within the window after the resident's last message, with send budget left."""
    if resident.last_inbound_at is None:
        return False
    return now - resident.last_inbound_at < settings.window and resident.cs_sends_since_inbound < settings.cs_budget


def note_cs_send(session: Session, resident_id: int) -> None:
    """Count one customer-service message against the resident's window budget."""
    session.execute(
        update(Resident)
        .where(Resident.id == resident_id)
        .values(cs_sends_since_inbound=Resident.cs_sends_since_inbound + 1)
        .execution_options(synchronize_session=False)
    )


def note_window_closed(session: Session, resident_id: int, budget: int) -> None:
    """WeChat answered 45015/45047: treat the window as spent until the resident writes again."""
    session.execute(
        update(Resident)
        .where(Resident.id == resident_id, Resident.cs_sends_since_inbound < budget)
        .values(cs_sends_since_inbound=budget)
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------------------- planning


def template_time(value: datetime | None) -> str:
    """A moment as a template `time` value in the community's time zone: "2026年12月07日 05:15"."""
    return value.astimezone(clock.LOCAL_TZ).strftime(TEMPLATE_TIME_FORMAT) if value is not None else ""


def _local_time(now: datetime) -> str:
    return now.astimezone(clock.LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def plan_resident(
    resident: Resident,
    text: str,
    template: dict | None,
    settings: NotifySettings,
    *,
    now: datetime,
    client_msg_id: str | None = None,
) -> list[Attempt]:
    """The channels to try for a resident, best first (empty when none can reach them)."""
    spec = dict(template or {})
    kind = spec.get("kind", "template")
    attempts: list[Attempt] = []
    oa = oa_reachable(resident)
    notice = {NOTICE_SLOTS["content"]: text, NOTICE_SLOTS["time"]: _local_time(now)}
    if oa and in_service_window(resident, now, settings):
        attempts.append(Attempt("custom", resident.openid or "", None, {"text": text}))
    if oa and kind == "template":
        template_id = spec.get("template_id") or settings.notice_template
        if template_id:
            content = {
                "data": spec.get("data") or notice,
                "url": spec.get("url"),
                "miniprogram": spec.get("miniprogram"),
                "client_msg_id": client_msg_id,
            }
            attempts.append(Attempt("template", resident.openid or "", template_id, content))
    if oa and kind == "subscribe":
        content = {
            "data": spec.get("data") or notice,
            "page": spec.get("page"),
            "miniprogram": spec.get("miniprogram"),
        }
        attempts.append(Attempt("subscribe", resident.openid or "", spec["template_id"], content))
    if resident.miniapp_openid and resident.erased_at is None:
        if kind == "mp_subscribe":
            template_id, data = spec["template_id"], spec.get("data") or notice
        else:
            template_id, data = settings.miniapp_notice_template, notice
        if template_id:
            content = {"data": data, "page": spec.get("page"), "state": settings.miniapp_state}
            attempts.append(Attempt("mp_subscribe", resident.miniapp_openid, template_id, content))
    return attempts


def staff_template_data(title: str, fields: Mapping[str, str], *, urgent: bool = False) -> dict[str, str]:
    """Map a title and labelled fields onto the staff task template's keywords."""
    data = {STAFF_SLOTS["title"]: ("【紧急】" if urgent else "") + title}
    extras: list[str] = []
    for label, value in fields.items():
        slot = STAFF_SLOTS.get(label) or (label if _KEYWORD.match(label) else None)
        if slot and slot not in data:
            data[slot] = str(value)
        else:
            extras.append(f"{label}：{value}")
    if extras:
        note = STAFF_SLOTS["note"]
        data[note] = "；".join([data[note], *extras] if note in data else extras)
    return data


def plan_staff(
    staff: Staff,
    title: str,
    fields: Mapping[str, str],
    settings: NotifySettings,
    *,
    urgent: bool = False,
    client_msg_id: str | None = None,
) -> list[Attempt]:
    """The template message for a staff member (empty when inactive, without openid or no template)."""
    if not staff.active or not staff.openid or not settings.staff_template:
        return []
    content = {"data": staff_template_data(title, fields, urgent=urgent), "client_msg_id": client_msg_id}
    return [Attempt("template", staff.openid, settings.staff_template, content)]


# ---------------------------------------------------------------------------- the delivery ledger


def _history_row(ledger: OutboundMessage) -> OutboundMessage:
    return OutboundMessage(
        channel=ledger.channel,
        openid=ledger.openid,
        template_id=ledger.template_id,
        payload=ledger.payload,
        idempotency_key=None,
        status="failed",
        errcode=ledger.errcode,
        errmsg=ledger.errmsg,
        related_type=ledger.related_type,
        related_id=ledger.related_id,
        created_at=ledger.created_at,
    )


def claim_delivery(
    session: Session,
    ledger_key: str,
    *,
    now: datetime,
    related: tuple[str | None, int | None] = (None, None),
    calling: Attempt | None = None,
) -> OutboundMessage | None:
    """Claim the keyed ledger row before calling WeChat; None when it was sent or its delivery is uncertain.

    `calling`: the call the caller will make first, written into a new row by the same INSERT (what
    `mark_calling` would write next: one UPDATE fewer). A row claimed again says channel `pending` instead, and
    the caller marks its call as usual; `is_marked` tells which.

    Raises DeliveryInFlight when another run claimed it moments ago. A claim older than IN_FLIGHT_STALE
    belongs to a run that died: if it had not started a call yet (channel still `pending`) it is taken
    over; if a call was in flight, WeChat may have delivered it, so the row becomes `uncertain` instead.
    """
    related_type, related_id = related
    stmt = (
        _insert(session)(OutboundMessage)
        .values(
            channel=calling.channel if calling else "pending",
            openid=calling.openid if calling else "",
            template_id=calling.template_id if calling else None,
            payload=calling.payload() if calling else {},
            idempotency_key=ledger_key,
            status="sending",
            errcode=0,
            errmsg="",
            related_type=related_type,
            related_id=related_id,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(OutboundMessage)  # the new row itself: no SELECT after the INSERT
    )
    claimed = session.scalars(stmt).first()
    if claimed is not None:
        return claimed
    row = session.scalars(
        select(OutboundMessage)
        .where(OutboundMessage.idempotency_key == ledger_key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if row.status in ("sent", "uncertain"):
        return None
    if row.status == "sending" and now - row.created_at < IN_FLIGHT_STALE:
        raise DeliveryInFlight(f"notification {ledger_key} is being delivered by another run")
    if (
        row.status == "sending"
        and row.channel == "template"
        and (row.payload or {}).get("client_msg_id")
        and now - row.created_at < TEMPLATE_DEDUPE - timedelta(seconds=30)
    ):
        # WeChat drops a repeat of the same client_msg_id, so calling again cannot deliver it twice.
        log.warning("notification %s: the run sending it died mid-call; resending under its client_msg_id", ledger_key)
        # created_at stays at the first call: WeChat's 10 minutes count from there.
        row.channel = "pending"
        session.flush()
        return row
    if row.status == "sending" and row.channel != "pending":
        log.warning(
            "notification %s: the run sending it by %s died mid-call; delivery uncertain", ledger_key, row.channel
        )
        row.status = "uncertain"
        row.errcode = -1
        row.errmsg = "the run sending it stopped during the call; WeChat may have delivered it"
        session.flush()
        return None
    if row.status == "sending":
        log.warning("taking over notification %s from a run that died before calling WeChat", ledger_key)
    elif row.channel not in ("pending", "none"):
        session.add(_history_row(row))  # keep the previous run's last failure before reusing the row
    row.status = "sending"
    row.channel = "pending"  # no call in flight yet (mark_calling says when one starts)
    row.created_at = now  # on the keyed row, created_at is when the current attempt started
    session.flush()
    return row


def is_marked(ledger: OutboundMessage, attempt: Attempt) -> bool:
    """The claimed row already names this call (claim_delivery wrote it): no mark_calling needed."""
    return (
        ledger.channel == attempt.channel
        and ledger.openid == attempt.openid
        and ledger.template_id == attempt.template_id
        and ledger.payload == attempt.payload()
    )


def mark_calling(session: Session, ledger: OutboundMessage, attempt: Attempt) -> None:
    """Note on the claimed row which call is about to go out (commit it before calling WeChat).

    A run that dies after this point may have delivered the message; claim_delivery then records it as
    uncertain rather than sending it again.
    """
    ledger.channel = attempt.channel
    ledger.openid = attempt.openid
    ledger.template_id = attempt.template_id
    ledger.payload = attempt.payload()
    session.flush()


def finish_delivery(
    session: Session,
    ledger: OutboundMessage,
    results: list[AttemptResult],
    *,
    sent: bool,
    reason: str = "",
    uncertain: bool = False,
) -> None:
    """Record the calls made: the last one on the keyed row (sent, uncertain or failed), earlier ones as failed.

    `uncertain`: the last call may have been delivered (its answer was lost); the row is never resent.
    """
    for result in results[:-1]:
        session.add(
            OutboundMessage(
                channel=result.attempt.channel,
                openid=result.attempt.openid,
                template_id=result.attempt.template_id,
                payload=result.attempt.payload(),
                idempotency_key=None,
                status="failed",
                errcode=result.errcode,
                errmsg=result.errmsg[:200],
                related_type=ledger.related_type,
                related_id=ledger.related_id,
                created_at=ledger.created_at,
            )
        )
    if results:
        last = results[-1]
        ledger.channel = last.attempt.channel
        ledger.openid = last.attempt.openid
        ledger.template_id = last.attempt.template_id
        ledger.payload = last.attempt.payload()
        ledger.errcode = last.errcode
        ledger.errmsg = last.errmsg[:200]
        ledger.wx_msgid = last.wx_msgid
    else:
        ledger.channel = "none"
        ledger.errcode = 0
        ledger.errmsg = (reason or "no channel can reach the recipient")[:200]
    ledger.status = "sent" if sent else "uncertain" if uncertain else "failed"
    session.flush()


def settled_keys(session: Session, ledger_keys: Sequence[str]) -> set[str]:
    """Which of these ledger keys are settled for good (sent, or uncertain: never sent again)."""
    if not ledger_keys:
        return set()
    stmt = select(OutboundMessage.idempotency_key).where(
        OutboundMessage.idempotency_key.in_(list(ledger_keys)), OutboundMessage.status.in_(("sent", "uncertain"))
    )
    return {k for k in session.scalars(stmt) if k is not None}


def load_residents(session: Session, resident_ids: Sequence[int]) -> None:
    """Load these residents into the session in one SELECT (later `session.get` calls find them there)."""
    if resident_ids:
        session.scalars(select(Resident).where(Resident.id.in_(list(resident_ids)))).all()


def _ledger_key_sql() -> Any:
    """The ledger key a delivery job's arguments name, in SQL (resident_ledger_key / staff_ledger_key)."""
    resident = literal("resident-") + PendingJob.args[0].as_string() + literal(":") + PendingJob.args[2].as_string()
    staff = literal("staff-") + PendingJob.args[0].as_string() + literal(":") + PendingJob.args[1].as_string()
    return case((PendingJob.func == RESIDENT_JOB, resident), else_=staff)


def unsettled_deliveries(session: Session, *, now: datetime, limit: int = LOST_BATCH) -> list[PendingJob]:
    """Delivery jobs handed to RQ LOST_AFTER ago or more whose notification was never claimed, or was claimed
    by a run that died before it called WeChat or during the call (claim_delivery settles those at most once)."""
    settled = (
        select(OutboundMessage.id)
        .where(
            OutboundMessage.idempotency_key == _ledger_key_sql(),
            (OutboundMessage.status != "sending") | (OutboundMessage.created_at > now - IN_FLIGHT_STALE),
        )
        .exists()
    )
    stmt = (
        select(PendingJob)
        .where(
            PendingJob.func.in_((RESIDENT_JOB, STAFF_JOB)),
            PendingJob.enqueued_at.is_not(None),
            PendingJob.enqueued_at <= now - LOST_AFTER,
            PendingJob.enqueued_at >= now - LOST_LOOKBACK,
            ~settled,
        )
        .order_by(PendingJob.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def delivery_status(session: Session, ledger_key: str) -> OutboundMessage | None:
    """The keyed ledger row of a notification (None before its job ran)."""
    return session.scalar(select(OutboundMessage).where(OutboundMessage.idempotency_key == ledger_key))
