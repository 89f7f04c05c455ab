"""Intake: a resident's chat message becomes an appeal, a "me too", a note on an open appeal, or an answer.

The conversational part follows GovFlow's inbound-SMS disambiguation: a resident
who already has open appeals and sends something that is not clearly new is asked which appeal it is about;
the held messages wait in `pending_follow_up` (never only in the 500-character dialog state), so several
follow-ups in a row neither open several appeals nor lose any text. Dialog states here start with "intake:".
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from infra import clock
from models.appeal import Appeal, AppealAttachment
from models.org import Department, Grid, PropertyCompany
from models.resident import Resident
from models.routing import PendingFollowUp
from models.staff import Staff
from services.appeals import evaluation, routing, workflow
from services.appeals.duplicates import find_duplicate, link_supporter
from services.appeals.handling import unit_name
from services.appeals.records import create_appeal, get_by_number, open_appeals_of, record_event
from services.errors import Conflict, NotFound
from services.notifications import notify

if TYPE_CHECKING:
    from nlp.classifier import Classifier, Decision

log = logging.getLogger(__name__)

STATE_CHOOSE = "intake:choose:"  # + comma-separated appeal ids offered as 1, 2, …
STATE_LOCATION = "intake:loc:"  # + "lat,lng,epoch": a location sent before the text that describes the problem
LOCATION_TTL = timedelta(minutes=30)
MAX_OPTIONS = 5
MEDIA_KINDS = ("image", "voice", "video", "file")

# Short courtesy messages that need a polite answer, not a case.
COURTESIES = frozenset(
    [
        "你好",
        "您好",
        "在吗",
        "在不在",
        "谢谢",
        "谢谢你",
        "谢谢您",
        "多谢",
        "感谢",
        "好的",
        "好",
        "嗯",
        "嗯嗯",
        "收到",
        "知道了",
        "ok",
        "哦",
        "明白",
        "了解",
        "再见",
        "辛苦了",
        "辛苦",
    ]
)
# Words that mark a message as being about something already reported (progress, chasing, adding detail).
FOLLOW_UP_HINTS = (
    "进展", "进度", "怎么样了", "还没", "没人来", "有人管吗", "催", "补充", "结果", "处理了吗", "什么时候",
    "还是没", "又", "上次", "刚才", "那个问题", "之前反映", "我反映的",
)  # fmt: skip
NUMBER_RE = re.compile(r"HG\d{13}", re.IGNORECASE)

HELP = (
    "您好，这里是红管家。请直接用文字描述您要反映的问题（如“3幢楼道灯坏了”），"
    "可附图片或位置；回复“我的诉求”查看办理进度。"
)


@dataclass
class IntakeResult:
    """What to reply to the resident, and the appeal the message created or touched (if any)."""

    reply: str
    appeal: Appeal | None


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def _classifier(classifier: Classifier | None) -> Classifier:
    if classifier is not None:
        return classifier
    from nlp import classifier as nlp_classifier

    return nlp_classifier.default_classifier()


_SPACE_AND_PUNCTUATION = re.compile(r"[\s，。！？,.!?~～…]+")


def is_courtesy(text: str) -> bool:
    """True for a greeting or a thank-you with nothing else in it."""
    core = _SPACE_AND_PUNCTUATION.sub("", _normalise(text)).lower()
    return core in COURTESIES or (len(core) <= 6 and any(core == c * 2 or core == c + "啊" for c in COURTESIES))


def is_choice_digit(text: str) -> bool:
    """True for an answer to "which appeal is this about?" given as its number in the list (0 = new)."""
    answer = _normalise(text)
    return answer.isdigit() and len(answer) <= 2


def is_new_choice(text: str) -> bool:
    """True for the answer "0": file the held messages as a new appeal."""
    return is_choice_digit(text) and int(_normalise(text)) == 0


def looks_like_follow_up(text: str) -> bool:
    """True when the wording refers back to something already reported."""
    return any(h in text for h in FOLLOW_UP_HINTS)


def clearly_new(decision: Decision, text: str, open_appeals: list[Appeal]) -> bool:
    """Whether a message from a resident with open appeals is plainly a new, different problem."""
    if decision.urgent:
        return True  # an emergency is never held back by a question
    if looks_like_follow_up(text) or decision.needs_triage:
        return False
    return decision.category not in {a.category for a in open_appeals}


# ------------------------------------------------------------------ entry points


def handle_text(
    session: Session,
    resident: Resident,
    text: str,
    *,
    channel: str = "wechat",
    inbound_message_id: int | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    building_id: int | None = None,
    classifier: Classifier | None = None,
    default_community: str = "",
) -> IntakeResult:
    """Handle a resident's free-text message (chat or form): the reply to send and the appeal concerned.

    `default_community`: the DEFAULT_COMMUNITY setting, for appeals whose place and unit name no community.
    """
    text = text.strip()
    if not text:
        return IntakeResult(HELP, None)
    if resident.id is None:
        session.flush()  # a resident created by this very message
    state = resident.dialog_state or ""
    if state.startswith(STATE_CHOOSE):
        return _answer_choice(session, resident, text, channel, inbound_message_id, classifier, default_community)
    if state.startswith(STATE_LOCATION):
        resident.dialog_state = None
        remembered = _parse_location_state(state)
        if remembered is not None and latitude is None and building_id is None:
            latitude, longitude = remembered
    if channel == "wechat":
        # "1/2/3" after a resolved notice, 催办 / 重办 / 撤回 [编号]: the loop's resident steps, in chat.
        answered = evaluation.answer_in_chat(session, resident.id, text)
        if answered is not None:
            return IntakeResult(answered, None)
    quoted = _quoted_appeal(session, resident, text)
    if quoted is not None:
        return _add_notes(session, resident, quoted, [text])
    if is_courtesy(text):
        return IntakeResult("不客气，有需要随时留言。" if "谢" in text else HELP, None)
    decision = _classifier(classifier).classify(text)
    open_appeals = open_appeals_of(session, resident.id, limit=MAX_OPTIONS)
    if open_appeals and not decision.is_consultation and not clearly_new(decision, text, open_appeals):
        return _ask_which(session, resident, open_appeals, text, channel, inbound_message_id)
    return new_appeal(
        session,
        resident,
        text,
        decision,
        channel=channel,
        inbound_message_id=inbound_message_id,
        latitude=latitude,
        longitude=longitude,
        building_id=building_id,
        default_community=default_community,
    )


@dataclass
class FormSubmission:
    """What a form submission did: created | joined (a "me too") | noted | answered, the reply, the appeal."""

    outcome: str
    reply: str
    appeal: Appeal | None


class AboutRequired(Conflict):
    """A form submission from a resident with open appeals must say whether it is new or about one of them."""

    code = "about_required"


def submit_from_form(
    session: Session,
    resident: Resident,
    text: str,
    *,
    about: Appeal | str | None,
    latitude: float | None = None,
    longitude: float | None = None,
    building_id: int | None = None,
    classifier: Classifier | None = None,
    default_community: str = "",
) -> FormSubmission:
    """The mini-program form's intake: `about` is "new", one of the resident's appeals, or None to let us decide.

    A form cannot answer the chat's "reply 1 / 0" question, so nothing is held here: when the message might be
    about an open appeal and `about` is None, AboutRequired lists the appeals to choose from and the form
    submits again with its choice. The chat's own dialog state is left untouched.
    """
    text = text.strip()
    if isinstance(about, Appeal):
        if about.resident_id != resident.id:
            raise NotFound("没有找到这件诉求")
        if about.status == "closed":
            # Nobody works a closed appeal any more: a note there would go unread.
            raise Conflict(
                f"诉求 {about.number} 已结案，请作为新诉求提交，或在重办期限内申请重办", code="appeal_closed"
            )
        return _noted(_add_notes(session, resident, about, [text]))
    if about is None:
        quoted = _quoted_appeal(session, resident, text)
        if quoted is not None:
            return _noted(_add_notes(session, resident, quoted, [text]))
        if is_courtesy(text):
            return FormSubmission("answered", HELP, None)
    decision = _classifier(classifier).classify(text)
    if about is None:
        open_appeals = open_appeals_of(session, resident.id, limit=MAX_OPTIONS)
        if open_appeals and not decision.is_consultation and not clearly_new(decision, text, open_appeals):
            raise AboutRequired(
                "您有正在办理的诉求，请选择这条留言是新诉求，还是对其中某件诉求的补充",
                details={
                    "options": [
                        {"id": a.public_id, "number": a.number, "status": a.status, "text": a.text[:50]}
                        for a in open_appeals
                    ]
                },
            )
    result = new_appeal(
        session,
        resident,
        text,
        decision,
        channel="miniapp",
        latitude=latitude,
        longitude=longitude,
        building_id=building_id,
        default_community=default_community,
    )
    if result.appeal is None or result.appeal.kind == "consultation":
        return FormSubmission("answered", result.reply, result.appeal)
    outcome = "joined" if result.appeal.resident_id != resident.id else "created"
    return FormSubmission(outcome, result.reply, result.appeal)


def _noted(result: IntakeResult) -> FormSubmission:
    return FormSubmission("noted", result.reply, result.appeal)


def attach_media(
    session: Session, resident: Resident, kind: str, media_id: str, *, url: str | None = None
) -> IntakeResult:
    """Attach a photo/voice/video to the resident's most recent open appeal."""
    if kind not in MEDIA_KINDS:
        kind = "file"
    appeals = open_appeals_of(session, resident.id, limit=1)
    if not appeals:
        # The webhook keeps the message itself, so the media is not lost; a case needs a description.
        return IntakeResult("已收到图片/语音。请再用文字简单描述您要反映的问题，我们会一并受理。", None)
    appeal = appeals[0]
    attachment = AppealAttachment(
        appeal_id=appeal.id,
        kind=kind,
        media_id=media_id,
        url=url,
        added_by_type="resident",
        added_by_id=resident.id,
        created_at=clock.now(),
    )
    session.add(attachment)
    session.flush()
    record_event(
        session,
        appeal,
        "attach",
        actor_type="resident",
        actor_id=resident.id,
        payload={"kind": kind, "attachment_id": attachment.id},
    )
    return IntakeResult(f"已将附件补充到诉求 {appeal.number}。", appeal)


def attach_location(
    session: Session, resident: Resident, latitude: float, longitude: float, *, label: str | None = None
) -> IntakeResult:
    """A location message: place the resident's just-filed appeal, or remember it for the next text."""
    recent = open_appeals_of(session, resident.id, limit=1)
    if recent and recent[0].latitude is None and recent[0].created_at >= clock.now() - LOCATION_TTL:
        appeal = recent[0]
        appeal.latitude, appeal.longitude = float(latitude), float(longitude)
        if label:
            appeal.address = label[:200]
        if appeal.grid_id is None:
            grid = routing.grid_for_location(session, latitude, longitude)
            if grid is not None:
                appeal.grid_id, appeal.community_id = grid.id, grid.community_id
        record_event(
            session,
            appeal,
            "note",
            actor_type="resident",
            actor_id=resident.id,
            note=label,
            payload={"latitude": float(latitude), "longitude": float(longitude)},
        )
        return IntakeResult(f"已将位置补充到诉求 {appeal.number}。", appeal)
    if not (resident.dialog_state or "").startswith(STATE_CHOOSE):
        epoch = int(clock.now().timestamp())
        resident.dialog_state = f"{STATE_LOCATION}{float(latitude):.6f},{float(longitude):.6f},{epoch}"
    return IntakeResult("已收到位置。请用文字描述这里发生的问题，我们会按位置转给所属网格。", None)


# ------------------------------------------------------------------ a new appeal


def new_appeal(
    session: Session,
    resident: Resident,
    text: str,
    decision: Decision,
    *,
    channel: str = "wechat",
    inbound_message_id: int | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    building_id: int | None = None,
    default_community: str = "",
) -> IntakeResult:
    """File a classified message: answer a consultation, join a duplicate, or create and route an appeal."""
    if decision.is_consultation and not decision.urgent:
        return _consultation(session, resident, text, decision, channel, inbound_message_id, default_community)
    place_building = building_id
    if place_building is None and latitude is None:
        place_building = resident.building_id
    if not decision.needs_triage:
        match = find_duplicate(
            session,
            category=decision.category,
            text=text,
            building_id=place_building,
            latitude=latitude,
            longitude=longitude,
            exclude_resident_id=resident.id,
        )
        if match is not None:
            link_supporter(session, match.appeal, resident, text=text, similarity=match.similarity)
            return IntakeResult(
                f"您反映的问题已有其他居民反映（诉求 {match.appeal.number}，{_status_label(match.appeal)}），"
                "已将您加为关注人，办理进展会同步告知您。",
                match.appeal,
            )
    appeal = create_appeal(
        session,
        resident=resident,
        text=text,
        channel=channel,
        inbound_message_id=inbound_message_id,
        latitude=latitude,
        longitude=longitude,
        building_id=building_id,
    )
    route = routing.route_appeal(session, appeal, decision, default_community=default_community)
    return IntakeResult(_accepted_reply(session, appeal, route), appeal)


def _consultation(
    session: Session,
    resident: Resident,
    text: str,
    decision: Decision,
    channel: str,
    inbound_message_id: int | None,
    default_community: str = "",
) -> IntakeResult:
    appeal = create_appeal(
        session,
        resident=resident,
        text=text,
        channel=channel,
        kind="consultation",
        inbound_message_id=inbound_message_id,
    )
    routing.route_appeal(session, appeal, decision, default_community=default_community)
    answer = routing.consult_answer(session, text, community_id=appeal.community_id)
    # A consultation is answered on the spot: closed as resolved, with the answer as the record.
    record_event(
        session,
        appeal,
        "close",
        actor_type="system",
        from_status=appeal.status,
        to_status="closed",
        reason_code="resolved",
        note=answer,
    )
    appeal.status, appeal.closure_code, appeal.closure_note = "closed", "resolved", answer
    appeal.closed_at = clock.now()
    return IntakeResult(answer, appeal)


# How a resident is told who was alerted, by the recipient's role (units are named by the unit itself).
_ROLE_LABELS = {
    "grid_leader": "网格长",
    "community_staff": "社区工作人员",
    "community_secretary": "社区书记",
    "street_officer": "街道工作人员",
    "admin": "值班人员",
}


def _recipient_label(session: Session, member: Staff) -> str:
    if member.role == "department_staff" and member.department_id:
        dept = session.get(Department, member.department_id)
        return dept.name if dept else "相关部门"
    if member.role == "property_staff" and member.property_company_id:
        company = session.get(PropertyCompany, member.property_company_id)
        return company.name if company else "物业公司"
    if member.role == "grid_worker":
        grid = session.get(Grid, member.grid_id) if member.grid_id else None
        return f"{grid.name}网格员" if grid else "网格员"
    return _ROLE_LABELS.get(member.role, "工作人员")


def notified_names(session: Session, appeal: Appeal) -> list[str]:
    """Who has been alerted about the appeal in this transaction, as the resident is told it (no duplicates)."""
    names: list[str] = []
    for member in notify.queued_staff(session, ("appeal", appeal.id)):
        label = _recipient_label(session, member)
        if label not in names:
            names.append(label)
    return names


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else "、".join(names[:-1]) + "和" + names[-1]


def _accepted_reply(session: Session, appeal: Appeal, route: routing.RouteDecision) -> str:
    """The resident's answer after intake; any "notified" claim names exactly the pushes queued for it."""
    unit = unit_name(session, appeal)
    notified = notified_names(session, appeal)
    dispatched = appeal.status == "dispatched"
    if appeal.urgent:
        if notified:
            done = f"已立即通知{_join(notified)}处置"
        elif dispatched:
            done = f"已转交{unit}处置"
        else:
            done = "正在等待工作人员分派"
        return f"【紧急】您的诉求已受理，编号 {appeal.number}，{done}。如有人身危险，请立即拨打 110/119/120。"
    if not dispatched or route.needs_triage:
        # Without a push the appeal waits in the unit's triage list: say where it is, not who was told.
        who = f"已通知{_join(notified)}尽快核实并分派处理" if notified else f"{unit}将尽快核实并分派处理"
        return f"您的诉求已受理，编号 {appeal.number}，{who}，进展会及时告知您。"
    by = f"，预计{clock.local_text(appeal.due_at)}前办结" if appeal.due_at else ""
    return f"您的诉求已受理，编号 {appeal.number}，已转交{unit}处理{by}。进展会及时告知您，回复“我的诉求”可随时查看。"


def _status_label(appeal: Appeal) -> str:
    return workflow.STATUS_LABELS.get(appeal.status, appeal.status)


# ------------------------------------------------------------- follow-ups ("which appeal is this about?")


def _quoted_appeal(session: Session, resident: Resident, text: str) -> Appeal | None:
    """An appeal of this resident whose number the message quotes."""
    match = NUMBER_RE.search(_normalise(text))
    if match is None:
        return None
    appeal = get_by_number(session, match.group(0))
    if appeal is None or appeal.resident_id != resident.id:
        return None
    return appeal


def _hold(session: Session, resident: Resident, text: str, channel: str, inbound_message_id: int | None) -> None:
    session.add(
        PendingFollowUp(
            resident_id=resident.id,
            text=text,
            channel=channel,
            inbound_message_id=inbound_message_id,
            created_at=clock.now(),
        )
    )
    session.flush()


def pending_texts(session: Session, resident_id: int) -> list[PendingFollowUp]:
    """Messages held for the resident's answer, oldest first."""
    stmt = select(PendingFollowUp).where(PendingFollowUp.resident_id == resident_id).order_by(PendingFollowUp.id)
    return list(session.scalars(stmt))


def _question(session: Session, options: list[Appeal]) -> str:
    lines = ["这条消息是关于哪件诉求？"]
    for i, appeal in enumerate(options, start=1):
        summary = appeal.text.replace("\n", " ")
        summary = summary[:14] + "…" if len(summary) > 14 else summary
        lines.append(f"回复 {i}：{appeal.number}「{summary}」（{_status_label(appeal)}）")
    lines.append("或回复 0 作为新诉求。")
    return "\n".join(lines)


def _ask_which(
    session: Session,
    resident: Resident,
    options: list[Appeal],
    text: str,
    channel: str,
    inbound_message_id: int | None,
) -> IntakeResult:
    _hold(session, resident, text, channel, inbound_message_id)
    resident.dialog_state = STATE_CHOOSE + ",".join(str(a.id) for a in options)
    return IntakeResult(_question(session, options), None)


def _options(session: Session, state: str) -> list[Appeal]:
    ids = [int(x) for x in state.removeprefix(STATE_CHOOSE).split(",") if x.strip().isdigit()]
    appeals = [session.get(Appeal, i) for i in ids]
    return [a for a in appeals if a is not None]


def _answer_choice(
    session: Session,
    resident: Resident,
    text: str,
    channel: str,
    inbound_message_id: int | None,
    classifier: Classifier | None,
    default_community: str = "",
) -> IntakeResult:
    options = _options(session, resident.dialog_state or "")
    answer = _normalise(text)
    held = pending_texts(session, resident.id)
    quoted = _quoted_appeal(session, resident, text)
    if is_choice_digit(answer) or quoted is not None:
        choice = int(answer) if quoted is None else None
        if choice == 0:
            return _file_held_as_new(session, resident, held, channel, classifier, default_community)
        target = quoted if quoted is not None else (options[choice - 1] if choice and choice <= len(options) else None)
        if target is None:
            return IntakeResult(f"请回复 0 到 {len(options)} 之间的数字。\n" + _question(session, options), None)
        _clear(session, resident)
        return _add_notes(session, resident, target, [p.text for p in held])
    if is_courtesy(text):
        return IntakeResult(_question(session, options), None)
    # Not an answer: another message while the question is open. Hold it too, unless it is an emergency.
    decision = _classifier(classifier).classify(text)
    if decision.urgent:
        result = new_appeal(
            session, resident, text, decision, channel=channel, inbound_message_id=inbound_message_id,
            default_community=default_community,
        )  # fmt: skip
        return IntakeResult(
            result.reply + "\n\n另：您之前的消息仍在等待确认。\n" + _question(session, options), result.appeal
        )
    _hold(session, resident, text, channel, inbound_message_id)
    return IntakeResult("已记下。\n" + _question(session, options), None)


def _clear(session: Session, resident: Resident) -> None:
    session.execute(delete(PendingFollowUp).where(PendingFollowUp.resident_id == resident.id))
    resident.dialog_state = None


def _file_held_as_new(
    session: Session,
    resident: Resident,
    held: list[PendingFollowUp],
    channel: str,
    classifier: Classifier | None,
    default_community: str = "",
) -> IntakeResult:
    _clear(session, resident)
    if not held:
        return IntakeResult(HELP, None)
    text = "\n".join(p.text for p in held)
    decision = _classifier(classifier).classify(text)
    return new_appeal(
        session,
        resident,
        text,
        decision,
        channel=held[0].channel or channel,
        inbound_message_id=held[0].inbound_message_id,
        default_community=default_community,
    )


def _add_notes(session: Session, resident: Resident, appeal: Appeal, texts: list[str]) -> IntakeResult:
    for note in texts:
        record_event(session, appeal, "note", actor_type="resident", actor_id=resident.id, note=note)
    return IntakeResult(f"已补充到诉求 {appeal.number}（{_status_label(appeal)}），办理人员会看到您的留言。", appeal)


def _parse_location_state(state: str) -> tuple[float, float] | None:
    try:
        lat, lng, epoch = state.removeprefix(STATE_LOCATION).split(",")
        if clock.now().timestamp() - int(epoch) > LOCATION_TTL.total_seconds():
            return None
        return float(lat), float(lng)
    except ValueError:
        return None


def describe_state(resident: Resident) -> dict[str, Any]:
    """The resident's intake dialog state, for the console (what question is pending)."""
    state = resident.dialog_state or ""
    if state.startswith(STATE_CHOOSE):
        return {
            "state": "choose",
            "appeal_ids": [int(x) for x in state.removeprefix(STATE_CHOOSE).split(",") if x],
        }
    if state.startswith(STATE_LOCATION):
        return {"state": "location"}
    return {"state": None}
