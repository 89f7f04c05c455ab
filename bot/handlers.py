"""The explicit handler registry: (MsgType, Event) → function, and the handlers themselves.

Message and event formats: https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_standard_messages.html
and https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_event_pushes.html.
A handler returns the passive reply text, or None for `success` (no reply). Handlers do local work only
(milliseconds); anything that calls WeChat goes through the outbox (`services.notifications.outbox.defer`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import binding, menu
from infra import clock, privacy
from models.appeal import Appeal, AppealAttachment
from models.messages import InboundMessage
from models.resident import Resident
from services.appeals import intake, workflow
from services.console import signin, wechat_bind
from services.errors import DomainError
from services.notifications.outbox import defer
from services.organisation import residents
from services.participation import ballots, proposals, supports
from services.points import board as rankings
from services.points import ledger as points
from services.volunteering import callups, teams

log = logging.getLogger(__name__)

Handler = Callable[["Context"], str | None]
HANDLERS: dict[tuple[str, str | None], Handler] = {}

# Pushes that open the 48 h customer-service window: any message, and these events
# (https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html).
# Template receipts, VIEW, LOCATION reports and unsubscribe are not the resident writing to us.
SUPPORT_CODE_LENGTH = 6  # a proposal's number in chat: the first hex digits of its public id
WINDOW_EVENTS = frozenset({"subscribe", "scan", "click", "scancode_push", "scancode_waitmsg"})


@dataclass
class Context:
    """One inbound push being handled: its fields, its log row, and the resident (created on first use)."""

    session: Session
    fields: dict[str, str]
    inbound: InboundMessage
    account_id: str
    now: datetime
    # The DEFAULT_COMMUNITY setting: the community of appeals whose place and unit name none.
    default_community: str = ""
    _resident: Resident | None = field(default=None, repr=False)

    @property
    def openid(self) -> str:
        """The sender's openid (FromUserName)."""
        return self.fields.get("FromUserName", "")

    @property
    def msg_type(self) -> str:
        """MsgType, lower-case."""
        return self.fields.get("MsgType", "").strip().lower()

    @property
    def event(self) -> str | None:
        """Event, lower-case (WeChat mixes `subscribe` and `SCAN`), or None for messages."""
        if self.msg_type != "event":
            return None
        return self.fields.get("Event", "").strip().lower() or None

    @property
    def event_key(self) -> str:
        """EventKey ("" when absent)."""
        return self.fields.get("EventKey", "")

    @property
    def resident(self) -> Resident:
        """The sender's profile, created on first contact."""
        if self._resident is None:
            self._resident = residents.get_or_create(self.session, self.openid)
        return self._resident

    @property
    def loaded_resident(self) -> Resident | None:
        """The resident if a handler used (or created) one, without creating it."""
        return self._resident

    @property
    def who(self) -> str:
        """The sender's pseudonym, for logs."""
        return privacy.pseudonym(self.openid)


def handles(msg_type: str, event: str | None = None) -> Callable[[Handler], Handler]:
    """Register a handler for a message type, or for an event (msg_type "event")."""

    def register(func: Handler) -> Handler:
        key = (msg_type.lower(), event.lower() if event else None)
        if key in HANDLERS:
            raise ValueError(f"a handler for {key} is already registered")
        HANDLERS[key] = func
        return func

    return register


def handler_for(msg_type: str, event: str | None) -> Handler:
    """The registered handler, else the unknown-type handler (log and acknowledge)."""
    return HANDLERS.get((msg_type, event)) or (unknown_event if msg_type == "event" else unknown_message)


def opens_window(ctx: Context) -> bool:
    """True when this push is the resident writing to us (restarts the customer-service window)."""
    if ctx.msg_type == "event":
        return ctx.event in WINDOW_EVENTS
    return bool(ctx.msg_type)


def prepare(ctx: Context) -> None:
    """Work done for every new push before its handler: the resident's 48 h window."""
    if ctx.openid and opens_window(ctx):
        residents.touch_inbound(ctx.resident, ctx.now)


def dispatch(ctx: Context) -> str | None:
    """Run the handler for this push; returns the reply text or None."""
    return handler_for(ctx.msg_type, ctx.event)(ctx)


# ----------------------------------------------------------------------------------------------- messages


def _menu_action(ctx: Context, key: str) -> str | None:
    if key == menu.HELP:
        return menu.HELP_TEXT
    if key == menu.MY_APPEALS:
        return my_appeals_text(ctx.session, ctx.resident)
    if key == menu.MY_POINTS:
        return my_points_text(ctx.session, ctx.resident)
    if key == menu.MY_TASKS:
        return my_tasks_text(ctx.session, ctx.resident)
    if key == menu.BIND:
        if (ctx.resident.dialog_state or "").startswith(intake.STATE_CHOOSE):
            # Intake asked "which appeal is this about?" and holds the resident's text: answer that first.
            return "请先回复上面的问题，再发送“绑定”选择小区和楼栋。"
        return binding.start(ctx.session, ctx.resident)
    if key == menu.OPEN_BALLOTS:
        return open_ballots_text(ctx.session, ctx.resident)
    if key == menu.GATHERING:
        return gathering_text(ctx.session, ctx.resident)
    return None


def _command(text: str) -> str | None:
    # Voice recognition adds punctuation ("帮助。"), so strip it before matching.
    return menu.TEXT_COMMANDS.get(text.strip().lower().rstrip("。.!！~～ "))


def _proposal_text(text: str) -> str | None:
    """The idea in "微实事：<idea>" (full-width or ASCII colon, or a space), else None."""
    stripped = text.strip()
    if not stripped.startswith(menu.PROPOSAL_PREFIX):
        return None
    rest = stripped.removeprefix(menu.PROPOSAL_PREFIX)
    if not rest or rest[0] not in "：: ":
        return None
    return rest[1:].strip() or None


SUPPORT_CODE = re.compile(rf"^{menu.SUPPORT_PREFIX}\s*[:：]?\s*([0-9a-fA-F]{{{SUPPORT_CODE_LENGTH},32}})\s*$")


def _support_code(text: str) -> str | None:
    """The proposal number in "支持 <编号>", else None."""
    found = SUPPORT_CODE.match(text.strip())
    return found.group(1).lower() if found else None


def is_command(text: str) -> bool:
    """True when the text is a typed command (帮助, 我的诉求 …), a 微实事 proposal or a support: answered inline."""
    return _command(text) is not None or _proposal_text(text) is not None or _support_code(text) is not None


def _text_flow(ctx: Context, text: str) -> intake.IntakeResult:
    """Binding dialogue, then typed commands, then intake (appeal, follow-up or intake's own dialogue)."""
    resident = ctx.resident
    if binding.is_active(resident):
        return intake.IntakeResult(reply=binding.handle(ctx.session, resident, text), appeal=None)
    command = _command(text)
    if command is not None:
        return intake.IntakeResult(reply=_menu_action(ctx, command) or menu.HELP_TEXT, appeal=None)
    idea = _proposal_text(text)
    if idea is not None:
        return intake.IntakeResult(reply=propose_text(ctx.session, resident, idea), appeal=None)
    code = _support_code(text)
    if code is not None:
        return intake.IntakeResult(reply=support_text(ctx.session, resident, code), appeal=None)
    if not text.strip():
        return intake.IntakeResult(reply=menu.UNSUPPORTED, appeal=None)
    return intake.handle_text(
        ctx.session, resident, text, channel="wechat", inbound_message_id=ctx.inbound.id,
        default_community=ctx.default_community,
    )  # fmt: skip


@handles("text")
def on_text(ctx: Context) -> str | None:
    """Text: the binding dialogue, a command, or intake."""
    return _text_flow(ctx, ctx.fields.get("Content", "")).reply


@handles("voice")
def on_voice(ctx: Context) -> str | None:
    """Voice: WeChat's Recognition as text (kept with the voice as an attachment); empty → ask to type."""
    recognition = ctx.fields.get("Recognition", "").strip()
    if not recognition:
        # Recognition is being retired and is often empty: ask rather than guess
        # (https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_standard_messages.html).
        return menu.VOICE_NOT_RECOGNISED
    result = _text_flow(ctx, recognition)
    media_id = ctx.fields.get("MediaId")
    if result.appeal is not None and media_id:
        ctx.session.add(
            AppealAttachment(
                appeal_id=result.appeal.id, kind="voice", media_id=media_id, note=recognition,
                added_by_type="resident", added_by_id=ctx.resident.id,
            )
        )  # fmt: skip
    return result.reply


@handles("image")
def on_image(ctx: Context) -> str | None:
    """Image: attached to the resident's current open appeal (intake asks what it is about when none)."""
    media_id = ctx.fields.get("MediaId", "")
    return intake.attach_media(ctx.session, ctx.resident, "image", media_id, url=ctx.fields.get("PicUrl")).reply


@handles("video")
@handles("shortvideo")
def on_video(ctx: Context) -> str | None:
    """Video: attached like an image."""
    return intake.attach_media(ctx.session, ctx.resident, "video", ctx.fields.get("MediaId", "")).reply


@handles("location")
def on_location(ctx: Context) -> str | None:
    """Location message: binds an unbound resident to the grid containing it (point in polygon), and is handed
    to intake as the place of the resident's problem (their just-filed appeal, or the next text)."""
    try:
        latitude = float(ctx.fields.get("Location_X", ""))
        longitude = float(ctx.fields.get("Location_Y", ""))
    except ValueError:
        return "没能读取这个位置，请重新发送。"
    resident = ctx.resident
    parts: list[str] = []
    # A bound resident's location is where a problem is, not a new home: only unbound residents are bound.
    if resident.grid_id is None:
        found = residents.bind_by_location(ctx.session, resident, latitude, longitude)
        if found is None:
            parts.append("这个位置不在红管家服务的网格范围内，可以回复“绑定”选择小区和楼栋。")
        else:
            parts.append(f"已根据位置为您绑定：{found.describe()}。")
    label = ctx.fields.get("Label") or None
    parts.append(intake.attach_location(ctx.session, resident, latitude, longitude, label=label).reply)
    return "\n".join(parts)


# ----------------------------------------------------------------------------------------------- events


def _welcome(ctx: Context, scene: str | None) -> str:
    resident = residents.subscribe(ctx.session, ctx.openid)
    ctx._resident = resident
    text = menu.WELCOME
    if scene:
        found = residents.bind_by_scene(ctx.session, resident, scene)
        if found is not None:
            text += f"\n已为您绑定：{found.describe()}。"
        else:
            log.info("unknown QR scene %r from %s", privacy.excerpt(scene, 64), ctx.who)
    # Fetching the profile (unionid joins the mini-program account) calls WeChat: outbox, after commit.
    defer(ctx.session, "jobs.inbound.sync_profile", resident.id, job_id=f"profile-{ctx.inbound.id}", queue="low")
    return text


@handles("event", "subscribe")
def on_subscribe(ctx: Context) -> str | None:
    """Follow: welcome; `qrscene_<scene>` binds the resident via the QR scene."""
    key = ctx.event_key
    if signin.is_login_scene(key):  # a staff member following while scanning the console's sign-in QR
        residents.subscribe(ctx.session, ctx.openid)
        return _console_sign_in(ctx)
    if wechat_bind.is_bind_scene(key):  # a staff member following while binding their WeChat in the console
        residents.subscribe(ctx.session, ctx.openid)
        return _bind_staff_wechat(ctx)
    return _welcome(ctx, key.removeprefix("qrscene_") if key.startswith("qrscene_") else None)


def _console_sign_in(ctx: Context) -> str:
    """The scan of a console sign-in QR: approve the waiting browser when this WeChat is bound staff."""
    outcome = signin.approve_scan(
        ctx.session, event_key=ctx.event_key, openid=ctx.openid, ticket=ctx.fields.get("Ticket") or None
    )
    log.info("console sign-in scan from %s: %s", ctx.who, "approved" if outcome.approved else "refused")
    return outcome.reply


def _bind_staff_wechat(ctx: Context) -> str:
    """The scan of a console binding QR: this WeChat becomes the waiting staff member's."""
    outcome = wechat_bind.bind_scan(
        ctx.session, event_key=ctx.event_key, openid=ctx.openid, ticket=ctx.fields.get("Ticket") or None
    )
    log.info("staff WeChat binding scan from %s: %s", ctx.who, "bound" if outcome.approved else "refused")
    return outcome.reply


@handles("event", "scan")
def on_scan(ctx: Context) -> str | None:
    """An existing follower scanned a parametric QR code: bind by its scene (EventKey, no prefix)."""
    if signin.is_login_scene(ctx.event_key):
        return _console_sign_in(ctx)
    if wechat_bind.is_bind_scene(ctx.event_key):
        return _bind_staff_wechat(ctx)
    found = residents.bind_by_scene(ctx.session, ctx.resident, ctx.event_key)
    if found is None:
        log.info("unknown QR scene %r from %s", privacy.excerpt(ctx.event_key, 64), ctx.who)
        return "这个二维码暂时无法识别。可以回复“绑定”选择小区和楼栋。"
    return f"已为您绑定：{found.describe()}。"


@handles("event", "unsubscribe")
def on_unsubscribe(ctx: Context) -> str | None:
    """Unfollow: erase personal data (appeals stay, linked to the pseudonymous profile); no reply is shown."""
    resident = residents.erase_on_unsubscribe(ctx.session, ctx.openid)
    log.info("unsubscribe: erased resident %s", resident.id if resident else "-")
    return None


@handles("event", "click")
def on_click(ctx: Context) -> str | None:
    """Menu CLICK: MY_APPEALS, MY_POINTS, HELP, BIND; an unknown key is logged and acknowledged."""
    reply = _menu_action(ctx, ctx.event_key)
    if reply is None:
        log.warning("unknown menu key %r", privacy.excerpt(ctx.event_key, 64))
    return reply


@handles("event", "view")
def on_view(ctx: Context) -> str | None:
    """A menu link was opened: nothing to say."""
    return None


@handles("event", "location")
def on_location_event(ctx: Context) -> str | None:
    """Periodic location report: bind an unbound resident's grid silently; no reply."""
    resident = residents.get_by_openid(ctx.session, ctx.openid)
    if resident is None or resident.grid_id is not None:
        return None
    try:
        latitude, longitude = float(ctx.fields.get("Latitude", "")), float(ctx.fields.get("Longitude", ""))
    except ValueError:
        return None
    residents.bind_by_location(ctx.session, resident, latitude, longitude)
    return None


@handles("event", "templatesendjobfinish")
def on_template_receipt(ctx: Context) -> str | None:
    """Template delivery receipt (Status success | failed:user block | failed: system failed): logged."""
    status = ctx.fields.get("Status", "")
    level = logging.INFO if status == "success" else logging.WARNING
    log.log(level, "template msg %s to %s: %s", ctx.fields.get("MsgID", "?"), ctx.who, privacy.excerpt(status, 64))
    return None


def unknown_message(ctx: Context) -> str | None:
    """A message type hongguan does not handle (link, file …): logged; a short hint back."""
    log.info("unhandled message type %r from %s", ctx.msg_type[:32], ctx.who)
    return menu.UNSUPPORTED if ctx.msg_type else None


def unknown_event(ctx: Context) -> str | None:
    """An event hongguan does not handle (view_miniprogram, subscribe_msg_popup_event …): logged."""
    log.info("unhandled event %r from %s", privacy.excerpt(ctx.event or "", 64), ctx.who)
    return None


# ----------------------------------------------------------------------------------------------- texts


def my_appeals_text(session: Session, resident: Resident, limit: int = 5) -> str:
    """The resident's latest appeals with their numbers and status."""
    appeals = list(
        session.scalars(select(Appeal).where(Appeal.resident_id == resident.id).order_by(Appeal.id.desc()).limit(limit))
    )
    if not appeals:
        return "您还没有提交过诉求。直接发文字或语音描述问题即可登记。"
    lines = ["您最近的诉求："]
    for appeal in appeals:
        summary = appeal.text.strip().replace("\n", " ")
        summary = summary[:14] + ("…" if len(summary) > 14 else "")
        lines.append(f"{appeal.number}｜{workflow.STATUS_LABELS.get(appeal.status, appeal.status)}｜{summary}")
    return "\n".join(lines)


def my_points_text(session: Session, resident: Resident) -> str:
    """The resident's volunteer points balance (from the points ledger) and this month's community rank."""
    text = f"您当前的志愿积分：{points.balance_of(session, resident.id)} 分。"
    if resident.community_id is not None:
        mine = rankings.my_rank(session, points.season_key(), resident.id, community_id=resident.community_id)
        if mine is not None:
            text += f"本月已得 {mine.points} 分，社区排名第 {mine.rank} 名。"
    return text + "积分可在红管家小程序兑换礼品。"


def my_tasks_text(session: Session, resident: Resident) -> str:
    """A volunteer's posts (岗位) and upcoming call-up shifts."""
    if not resident.is_volunteer:
        return "您还不是志愿者。可在红管家小程序「志愿服务」中申请，审核通过后即可认领岗位、报名倡议。"
    lines: list[str] = []
    for claim, post in teams.posts_of(session, resident.id):
        lines.append(f"岗位｜{post.name}｜{claim.starts_on:%m-%d} 至 {claim.ends_on:%m-%d}")
    for signup, shift, callup in callups.upcoming_shifts_of(session, resident.id)[:5]:
        state = "已报名" if signup.status == "confirmed" else "候补中"
        lines.append(f"班次｜{callup.title[:12]}｜{clock.local_text(shift.starts_at)}｜{shift.place[:10]}｜{state}")
    if not lines:
        return "您目前没有认领的岗位或报名的班次。可在红管家小程序查看正在招募的倡议。"
    return "您的志愿任务：\n" + "\n".join(lines)


def open_ballots_text(session: Session, resident: Resident) -> str:
    """The micro-project ballots open now where the resident lives, with their closing time and options."""
    now = clock.now()
    open_now = ballots.open_for(session, resident, now=now)
    if not open_now:
        if resident.building_id is None:
            return "您还没有绑定住址，绑定后可以参加本楼栋、小区和社区的微实事投票。回复“绑定”开始。"
        return "目前没有正在进行的微实事投票。想做什么微实事？发“微实事：您的想法”提给社区。"
    lines = ["正在进行的微实事投票："]
    for ballot in open_now[:5]:
        closes = clock.local_text(ballot.closes_at)
        rule = "每户一票" if ballot.rule == "household" else "每人一票"
        voted = "（已投）" if ballots.has_voted(session, ballot, resident) else ""
        titles = "、".join(p.title for _, p in ballots.options(session, ballot))
        lines.append(f"· {ballot.title}{voted}｜{rule}，可选 {ballot.max_choices} 项｜{closes} 截止\n  项目：{titles}")
    lines.append("请在红管家小程序“居民议事”中投票，截止后公布结果。")
    return "\n".join(lines)


def propose_text(session: Session, resident: Resident, idea: str) -> str:
    """Record a 微实事 proposal for the resident's building from chat; the reply says what happens next."""
    first_line = idea.splitlines()[0].strip()
    title = first_line[:30] + ("…" if len(first_line) > 30 else "")
    try:
        proposal = proposals.propose(session, resident, title=title, description=idea, scope="building", source="chat")
    except DomainError as refused:
        return refused.message + ("。回复“绑定”开始。" if refused.code == "not_bound" else "")
    if proposal.status == "gathering":
        return (
            f"已收到您的微实事提议「{title}」（编号 {proposal.public_id[:SUPPORT_CODE_LENGTH]}）。"
            f"获得 {proposal.supports_needed} 位邻居支持后进入社区审核，"
            f"征集截止 {clock.local_text(proposal.supports_until)}；邻居发“支持 编号”即可支持。"
        )
    return f"已收到您的微实事提议「{title}」，社区会审核并告诉您结果；可行的项目会交给居民投票。"


def gathering_text(session: Session, resident: Resident) -> str:
    """The proposals where the resident lives that are gathering supports, with their numbers and counts."""
    if resident.building_id is None:
        return "您还没有绑定住址，绑定后可以支持本楼栋、小区和社区的微实事提议。回复“绑定”开始。"
    found = supports.gathering_for(session, resident, now=clock.now())
    if not found:
        return "目前没有正在征集支持的微实事提议。"
    lines = ["正在征集支持的微实事提议："]
    for p in found[:8]:
        mine = "（已支持）" if supports.has_supported(session, p, resident) else ""
        lines.append(
            f"· {p.public_id[:SUPPORT_CODE_LENGTH]}｜{p.title}{mine}｜{p.support_count}/{p.supports_needed} 人支持"
            f"｜{clock.local_text(p.supports_until)} 截止"
        )
    lines.append("发“支持 编号”支持一个提议（每人每个提议一次）。")
    return "\n".join(lines)


def support_text(session: Session, resident: Resident, code: str) -> str:
    """Support the gathering proposal whose number starts with `code`, from chat."""
    if resident.building_id is None:
        return "请先绑定您住的小区和楼栋，再支持邻居的提议。回复“绑定”开始。"
    found = [p for p in supports.gathering_for(session, resident, now=clock.now()) if p.public_id.startswith(code)]
    if not found:
        return "没有找到这个编号的征集中提议。回复“征集支持”查看编号。"
    if len(found) > 1:
        return "有多个提议以这个编号开头，请多发几位编号。"
    try:
        counted = supports.support(session, found[0], resident, now=clock.now())
    except DomainError as refused:
        return refused.message + "。"
    if counted.reached:
        return f"感谢支持！「{found[0].title}」已获得 {counted.supports_needed} 位居民支持，进入社区审核。"
    return f"感谢支持！「{found[0].title}」已有 {counted.support_count}/{counted.supports_needed} 位居民支持。"
