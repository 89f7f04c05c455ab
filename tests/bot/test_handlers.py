"""Every handler in the registry, driven through the real /wechat endpoint in safe mode."""

from __future__ import annotations

from sqlalchemy import func, select, update

from bot import handlers, menu
from infra import clock
from models import Appeal, AppealAttachment, InboundMessage, Resident
from services.appeals import evaluation, handling, workflow

OPENID = "oResidentAlice0000000000001"  # the `wx` fixture's user


def _rows(session, stmt) -> list:
    """Read plain rows and end the transaction (on SQLite every transaction holds the write lock).

    Commit, not rollback: a rollback would expire the `org` fixture's objects and re-reading them would open
    (and hold) a new transaction while the app handles the next request.
    """
    try:
        return list(session.execute(stmt).all())
    finally:
        session.commit()


def _one(session, stmt):
    rows = _rows(session, stmt)
    assert len(rows) == 1, rows
    return rows[0]


def _resident(session, openid: str = OPENID):
    cols = (
        Resident.id, Resident.community_id, Resident.grid_id, Resident.building_id, Resident.subscribed,
        Resident.dialog_state, Resident.erased_at, Resident.openid,
    )  # fmt: skip
    return _one(session, select(*cols).where(Resident.openid == openid))


def _set_state(session, state: str | None, openid: str = OPENID) -> None:
    session.execute(update(Resident).where(Resident.openid == openid).values(dialog_state=state))
    session.commit()


def test_registry_is_explicit_and_covers_the_documented_pushes():
    expected = {
        ("text", None), ("voice", None), ("image", None), ("video", None), ("shortvideo", None),
        ("location", None), ("event", "subscribe"), ("event", "scan"), ("event", "unsubscribe"),
        ("event", "click"), ("event", "view"), ("event", "location"), ("event", "templatesendjobfinish"),
    }  # fmt: skip
    assert expected <= set(handlers.HANDLERS)
    assert handlers.handler_for("link", None) is handlers.unknown_message
    assert handlers.handler_for("event", "view_miniprogram") is handlers.unknown_event


# -------------------------------------------------------------------------------------- subscribe/scan


def test_subscribe_welcomes_and_marks_the_resident_subscribed(wx, org, session):
    reply = wx.say("/subscribe")
    assert reply == menu.WELCOME
    r = _resident(session)
    assert r.subscribed is True
    assert r.grid_id is None


def test_subscribe_with_a_building_qr_scene_binds_building_grid_and_community(wx, org, session):
    reply = wx.say("/subscribe b-e-lz-4")
    assert reply.startswith(menu.WELCOME)
    assert "已为您绑定：金鸡湖社区 第二网格 绿洲花园4幢" in reply
    r = _resident(session)
    assert (r.community_id, r.grid_id, r.building_id) == (
        org.community.id, org.grids["G2"].id, org.buildings["E-LZ-4"].id,
    )  # fmt: skip


def test_subscribe_with_a_community_scene_binds_only_the_community(wx, org, session):
    assert "已为您绑定：金鸡湖社区" in wx.say("/subscribe community")
    r = _resident(session)
    assert (r.community_id, r.grid_id, r.building_id) == (org.community.id, None, None)


def test_subscribe_with_an_unknown_scene_still_welcomes(wx, org, session):
    assert wx.say("/subscribe no-such-scene") == menu.WELCOME
    assert _resident(session).community_id is None


def test_scan_by_a_follower_rebinds_by_scene(wx, org, session):
    wx.say("/subscribe b-e-lz-1")
    assert wx.say("/scan b-e-xy-2") == "已为您绑定：金鸡湖社区 第三网格 星苑小区2幢。"
    assert _resident(session).grid_id == org.grids["G3"].id
    assert "无法识别" in wx.say("/scan expired-scene")


# ----------------------------------------------------------------------------------------- unsubscribe


def test_unsubscribe_erases_personal_data_but_keeps_the_appeal_accountable(wx, org, session):
    wx.say("/subscribe b-e-lz-1")
    answer = wx.tell("楼道里堆满了杂物，消防通道被堵")
    session.execute(
        update(Resident).where(Resident.openid == OPENID).values(name="张三", phone="13812345678", room="1201")
    )
    session.commit()
    resident_id = _resident(session).id
    appeal_number, appeal_resident = _one(session, select(Appeal.number, Appeal.resident_id))
    assert appeal_number in answer

    assert wx.say("/unsubscribe") is None  # WeChat shows nothing for unsubscribe: `success`

    erased = _one(
        session,
        select(
            Resident.openid, Resident.name, Resident.phone, Resident.room, Resident.building_id,
            Resident.erased_at, Resident.subscribed, Resident.dialog_state,
        ).where(Resident.id == resident_id),
    )  # fmt: skip
    assert erased.openid.startswith("u:")
    assert OPENID not in erased.openid
    assert (erased.name, erased.phone, erased.room, erased.building_id) == (None, None, None, None)
    assert erased.erased_at is not None
    assert erased.subscribed is False
    assert appeal_resident == resident_id
    assert _one(session, select(Appeal.resident_id, Appeal.text)).resident_id == resident_id
    # The inbound log no longer holds the openid or what was said.
    logged = _rows(session, select(InboundMessage.openid, InboundMessage.body))
    assert len(logged) == 3  # subscribe, the appeal text, unsubscribe
    assert all(row.openid.startswith("u:") and row.body == "" for row in logged)

    # A later re-follow is a fresh, unlinked profile.
    assert wx.say("/subscribe") == menu.WELCOME
    fresh = _resident(session)
    assert fresh.id != resident_id
    assert fresh.erased_at is None


def test_unsubscribe_erases_the_person_on_the_mini_program_too(wx, org, session, client):
    import hashlib

    from models import MiniappSession, OutboundMessage, SubscribeGrant

    wx.say("/subscribe b-e-lz-1")
    # The same person in the mini-program: WeChat gives both channels one unionid (the sandbox derives it).
    unionid = "ounion" + hashlib.sha256(b"alice").hexdigest()[:20]
    session.execute(update(Resident).where(Resident.openid == OPENID).values(unionid=unionid))
    session.commit()
    resident_id = _resident(session).id
    login = client.post("/api/v1/auth/login", json={"code": "alice:1"})
    assert login.status_code == 200, login.json
    auth = {"Authorization": f"Bearer {login.json['token']}"}
    me = client.get("/api/v1/me", headers=auth)
    assert (me.json["resident_id"], me.json["bound"]) == (resident_id, True)
    assert client.post("/api/v1/subscriptions", json={"template_id": "tpl-x"}, headers=auth).status_code == 200
    session.add(OutboundMessage(channel="custom", openid=OPENID, payload={}, status="sent"))
    session.commit()

    assert wx.say("/unsubscribe") is None

    # The old mini-program session is refused at once; nothing of the person is left on either channel.
    refused = client.get("/api/v1/me", headers=auth)
    assert (refused.status_code, refused.json["code"]) == (401, "session_expired")
    erased = _one(session, select(Resident.miniapp_openid, Resident.unionid).where(Resident.id == resident_id))
    assert tuple(erased) == (None, None)
    sessions = _rows(session, select(MiniappSession.revoked_at, MiniappSession.session_key, MiniappSession.openid))
    assert [(r.revoked_at is not None, r.session_key, r.openid.startswith("u:")) for r in sessions] == [
        (True, "", True)
    ]
    assert _rows(session, select(func.count()).select_from(SubscribeGrant)) == [(0,)]
    assert [r.openid.startswith("u:") for r in _rows(session, select(OutboundMessage.openid))] == [True]
    # A session a login racing the erasure might have added to the erased row is refused as well.
    from datetime import timedelta

    from infra import clock as clock_module
    from services.organisation import auth as auth_service

    raced = auth_service.hash_token("raced-token")
    now = clock_module.now()
    session.add(
        MiniappSession(token_hash=raced, resident_id=resident_id, openid="x", session_key="k", created_at=now,
                       expires_at=now + timedelta(days=1))
    )  # fmt: skip
    session.commit()
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer raced-token"}).status_code == 401
    # Logging in again starts a fresh, unbound profile: nothing links it back to the erased row.
    again = client.post("/api/v1/auth/login", json={"code": "alice:2"})
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {again.json['token']}"})
    assert me.status_code == 200
    assert me.json["resident_id"] != resident_id
    assert me.json["bound"] is False


def test_unsubscribe_of_an_unknown_user_creates_nothing(wx, org, session):
    assert wx.as_user("oNeverSeenBefore00000000000x").say("/unsubscribe") is None
    assert _rows(session, select(func.count()).select_from(Resident)) == [(0,)]


# ---------------------------------------------------------------------------------- text, voice, media


def test_text_is_acknowledged_then_becomes_an_appeal_and_the_resident_is_told_its_number(wx, org, session):
    assert wx.say("小区东门的路灯坏了一个星期了") == menu.ACK_QUEUED
    # Stored and queued in the request; intake has not run yet.
    assert _one(session, select(InboundMessage.status, InboundMessage.attempts)) == ("queued", 0)
    assert _rows(session, select(func.count()).select_from(Appeal)) == [(0,)]
    assert wx.answers() == []

    wx.run_jobs()
    number, channel, inbound_id, resident_id, grid_id = _one(
        session,
        select(Appeal.number, Appeal.channel, Appeal.inbound_message_id, Appeal.resident_id, Appeal.grid_id),
    )
    [answer] = wx.answers()
    assert f"编号 {number}" in answer
    assert "受理" in answer
    assert channel == "wechat"
    assert _one(session, select(InboundMessage.id, InboundMessage.status, InboundMessage.attempts)) == (
        inbound_id, "handled", 1,
    )  # fmt: skip
    assert resident_id == _resident(session).id
    assert grid_id is None  # an unbound resident: the answer says it is being sorted by hand
    # The resident wrote when the message arrived: that, not the worker's run, opened the 48 h window.
    assert _one(session, select(Resident.last_inbound_at)).last_inbound_at is not None
    assert wx.run_jobs() == 0  # nothing left: one job, one answer


def test_typed_commands_answer_without_creating_appeals(wx, org, session):
    assert wx.say("帮助") == menu.HELP_TEXT
    assert "还没有提交过诉求" in wx.say("我的诉求")
    assert "志愿积分" in wx.say("我的积分")
    assert _rows(session, select(func.count()).select_from(Appeal)) == [(0,)]


def test_voice_with_recognition_files_an_appeal_and_keeps_the_voice(wx, org, session):
    reply = wx.tell("/voice 三幢门口的垃圾桶满了没人清理。")
    number = _one(session, select(Appeal.number)).number
    assert number in reply
    kind, media_id, note = _one(
        session, select(AppealAttachment.kind, AppealAttachment.media_id, AppealAttachment.note)
    )
    assert kind == "voice"
    assert media_id.startswith("media_")
    assert note == "三幢门口的垃圾桶满了没人清理。"


def test_voice_without_recognition_asks_the_resident_to_type(wx, org, session):
    assert wx.say("/voice") == menu.VOICE_NOT_RECOGNISED
    assert _rows(session, select(func.count()).select_from(Appeal)) == [(0,)]


def test_image_is_attached_to_the_current_open_appeal(wx, org, session):
    no_appeal = wx.say("/image")
    assert "文字" in no_appeal  # nothing to attach to yet: asked what it is about
    assert _rows(session, select(func.count()).select_from(AppealAttachment)) == [(0,)]
    wx.tell("人行道上的井盖松动了，踩上去会翻")
    number, appeal_id = _one(session, select(Appeal.number, Appeal.id))
    reply = wx.say("/image https://mmbiz.example/photo.jpg")
    assert number in reply
    assert _one(session, select(AppealAttachment.appeal_id, AppealAttachment.kind, AppealAttachment.url)) == (
        appeal_id, "image", "https://mmbiz.example/photo.jpg",
    )  # fmt: skip


def test_unknown_message_type_gets_a_hint_and_is_logged_handled(wx, org, session):
    link = wx.fake.fields("link", Title="一篇文章", Description="", Url="https://example.com/a")
    reply = wx.fake.read_reply(wx.post(link).get_data(as_text=True))
    assert reply["Content"] == menu.UNSUPPORTED
    assert _one(session, select(InboundMessage.msg_type, InboundMessage.status)) == ("link", "handled")


# -------------------------------------------------------------------------------------------- location


def test_location_binds_an_unbound_resident_to_the_grid_containing_it(wx, org, session):
    reply = wx.say("/location 31.302 120.707 星湖街")  # inside G2's box (120.705–120.710)
    assert "已根据位置为您绑定：金鸡湖社区 第二网格。" in reply
    r = _resident(session)
    assert (r.community_id, r.grid_id) == (org.community.id, org.grids["G2"].id)


def test_location_outside_every_grid_binds_nothing(wx, org, session):
    reply = wx.say("/location 39.9 116.4 北京")
    assert "不在红管家服务的网格范围内" in reply
    assert _resident(session).grid_id is None


def test_location_of_a_bound_resident_places_the_problem_not_the_home(wx, org, session):
    wx.say("/subscribe b-e-lz-1")  # G1
    wx.tell("马路对面的红绿灯不亮了")
    reply = wx.say("/location 31.302 120.712 路口")  # in G3
    assert "绑定" not in reply
    assert _resident(session).grid_id == org.grids["G1"].id
    lat, lng = _one(session, select(Appeal.latitude, Appeal.longitude))
    assert (lat, lng) == (31.302, 120.712)


def test_location_event_binds_silently_and_never_overrides(wx, org, session):
    wx.say("/subscribe")
    report = wx.fake.fields("event", Event="LOCATION", Latitude="31.303", Longitude="120.713", Precision="30")
    assert wx.post(report).get_data(as_text=True) == "success"
    assert _resident(session).grid_id == org.grids["G3"].id
    report = wx.fake.fields("event", Event="LOCATION", Latitude="31.303", Longitude="120.702", Precision="30")
    report["CreateTime"] += 5
    assert wx.post(report).get_data(as_text=True) == "success"
    assert _resident(session).grid_id == org.grids["G3"].id


# ------------------------------------------------------------------------------------- menu and events


def test_click_keys(wx, org, session):
    assert wx.say("/click HELP") == menu.HELP_TEXT
    assert "还没有提交过诉求" in wx.say("/click MY_APPEALS")
    first = wx.tell("水管爆了，楼道里全是水")
    number = _one(session, select(Appeal.number)).number
    assert number in first
    listing = wx.say("/click MY_APPEALS")
    assert number in listing
    # A Chinese status label, never the internal state name.
    assert any(f"｜{label}｜" in listing for label in workflow.STATUS_LABELS.values())
    assert "志愿积分：0 分" in wx.say("/click MY_POINTS")
    assert "请选择您居住的小区" in wx.say("/click BIND")
    assert wx.say("/click NO_SUCH_KEY") is None  # acknowledged with `success`


def test_view_and_unknown_events_are_acknowledged(wx, org, session):
    assert wx.say("/view https://example.com/page") is None
    assert wx.say("/event view_miniprogram pages/index") is None
    assert wx.say("/event subscribe_msg_popup_event") is None
    statuses = _rows(session, select(InboundMessage.event, InboundMessage.status).order_by(InboundMessage.id))
    assert statuses == [
        ("VIEW", "handled"), ("view_miniprogram", "handled"), ("subscribe_msg_popup_event", "handled"),
    ]  # fmt: skip


def test_template_receipt_is_logged_and_creates_no_resident(wx, org, session):
    staff = wx.as_user("o-staff-g1-worker")
    receipt = staff.fake.fields("event", Event="TEMPLATESENDJOBFINISH", MsgID="200001", Status="failed:user block")
    assert staff.post(receipt).get_data(as_text=True) == "success"
    assert _rows(session, select(func.count()).select_from(Resident)) == [(0,)]
    assert _one(session, select(InboundMessage.status)) == ("handled",)


# --------------------------------------------------------------------------------------- bind dialogue


def test_bind_dialogue_chooses_estate_then_building(wx, org, session):
    estates = wx.say("绑定")
    assert "1. 绿洲花园" in estates
    assert "2. 星苑小区" in estates
    assert _resident(session).dialog_state == "bind:estate"
    assert "没有找到这个序号" in wx.say("9")
    buildings = wx.say("２")  # full-width digits are digits too
    assert "星苑小区：请选择楼栋" in buildings
    assert "4. 4幢" in buildings
    assert _resident(session).dialog_state == f"bind:building:{org.estates['E-XY'].id}"
    assert wx.say("3幢") == "绑定成功：金鸡湖社区 第三网格 星苑小区3幢。有问题可以直接发消息给我。"
    r = _resident(session)
    assert (r.building_id, r.grid_id, r.dialog_state) == (
        org.buildings["E-XY-3"].id,
        org.grids["G3"].id,
        None,
    )
    assert _rows(session, select(func.count()).select_from(Appeal)) == [(0,)]


def test_bind_dialogue_can_be_cancelled(wx, org, session):
    wx.say("绑定")
    assert wx.say("取消").startswith("已取消绑定")
    assert _resident(session).dialog_state is None


def test_bind_does_not_drop_intakes_pending_question(wx, org, session):
    wx.say("帮助")
    _set_state(session, "intake:choose:1,2")
    assert "请先回复上面的问题" in wx.say("绑定")
    assert _resident(session).dialog_state == "intake:choose:1,2"


# ------------------------------------------------------------------------- what runs inline, what queues


def test_greetings_commands_and_the_bind_dialogue_are_answered_inline(wx, org, session):
    assert "不客气" in wx.say("谢谢")
    assert wx.say("帮助") == menu.HELP_TEXT
    assert "请选择您居住的小区" in wx.say("绑定")
    assert "请选择楼栋" in wx.say("1")  # a dialogue step, not free text for intake
    statuses = _rows(session, select(InboundMessage.status))
    assert statuses == [("handled",)] * 4
    assert wx.answers() == []  # all passive: no customer-service messages needed


def test_a_photo_sent_before_the_worker_ran_waits_and_attaches_to_the_new_appeal(wx, org, session):
    assert wx.say("小区门口的垃圾桶倒了，垃圾撒了一地") == menu.ACK_QUEUED
    # The description is still queued: the photo must not overtake it ("nothing to attach to").
    assert wx.say("/image https://mmbiz.example/bin.jpg") == menu.RETRY_LATER
    assert _rows(session, select(InboundMessage.status).order_by(InboundMessage.id)) == [
        ("queued",), ("queued",),
    ]  # fmt: skip
    wx.run_jobs()
    number, appeal_id = _one(session, select(Appeal.number, Appeal.id))
    assert _one(session, select(AppealAttachment.appeal_id, AppealAttachment.url)) == (
        appeal_id, "https://mmbiz.example/bin.jpg",
    )  # fmt: skip
    first, second = wx.answers()
    assert f"编号 {number}" in first
    assert f"已将附件补充到诉求 {number}" in second


def test_which_appeal_question_and_its_answer_reach_the_resident_from_the_worker(wx, org, session):
    from services.appeals.routing import seed_routing

    seed_routing(session)  # the default routing table: 物业 → the estate's property company
    session.commit()
    wx.say("/subscribe b-e-lz-1")
    first = wx.tell("3幢楼道的灯坏了")
    number = _one(session, select(Appeal.number)).number
    assert number in first
    # Bound, so dispatched at once: one answer with the number, the unit and the deadline (the workflow's own
    # dispatch notice is not sent as well: intake's answer says the same, and each costs the 48 h budget).
    (answer,) = wx.answers()
    assert answer == first
    assert "前办结" in answer
    question = wx.tell("上次反映的问题怎么还没人来")
    assert "这条消息是关于哪件诉求" in question
    assert number in question
    assert _resident(session).dialog_state.startswith("intake:choose:")
    # The picker digit is answered at once, by the passive reply alone: no acknowledgement, no second message.
    noted, sent = _one_step(wx, "1")
    assert noted == f"已补充到诉求 {number}（已派单），办理人员会看到您的留言。"
    assert sent == []
    assert _rows(session, select(func.count()).select_from(Appeal)) == [(1,)]


def _sent_to(wx) -> list[dict]:
    """Everything the sandbox accepted for the resident: customer-service, template and subscribe messages."""
    return wx.sandbox.sent(wx.fake.openid)


def _one_step(wx, line: str) -> tuple[str | None, list[dict]]:
    """Send `line`, run every job it caused, and return the passive reply and the messages sent after it."""
    before = len(_sent_to(wx))
    reply = wx.say(line)
    wx.run_jobs()
    return reply, _sent_to(wx)[before:]


def _resolve_as_handler(session, number: str) -> Appeal:
    appeal = session.scalar(select(Appeal).where(Appeal.number == number))
    handler = handling.handler_staff(session, appeal)[0]
    actor = workflow.Actor("staff", handler.id, handler.role)
    if appeal.status == "dispatched":
        workflow.accept(session, appeal, actor=actor)
    workflow.start(session, appeal, actor=actor)
    workflow.resolve(session, appeal, actor=actor, reply="已更换灯泡")
    session.commit()
    return appeal


def test_rating_chase_reopen_and_picker_digit_each_reach_the_resident_once(wx, org, session):
    from services.appeals.routing import seed_routing

    seed_routing(session)
    session.commit()
    wx.say("/subscribe b-e-lz-1")
    wx.tell("3幢楼道的灯坏了")
    number = _one(session, select(Appeal.number)).number

    chased, sent = _one_step(wx, "催办")
    assert chased == f"已为您催办诉求（编号{number}），承办单位会尽快处理。"
    assert sent == []

    _resolve_as_handler(session, number)
    wx.run_jobs()  # the resolved notice asking for a rating
    rated, sent = _one_step(wx, "3")
    assert rated == (
        f"感谢您的评价（不满意），诉求（编号{number}）已结案。"
        f"如问题仍未解决，可在{evaluation.REOPEN_DAYS}天内回复“重办{number}”。"
    )
    assert sent == []  # the closing notice is the passive reply, not a second message
    assert _one(session, select(Appeal.status, Appeal.rating)) == ("closed", "unsatisfied")

    reopened, sent = _one_step(wx, f"重办{number}")
    unit, due_at = _one(session, select(Appeal.property_company_id, Appeal.due_at))
    assert unit is not None
    assert reopened.startswith(f"您的诉求（编号{number}）已重新交")
    assert f"预计{clock.local_text(due_at)}前办结" in reopened
    assert sent == []
    assert _one(session, select(Appeal.status, Appeal.reopen_count)) == ("dispatched", 1)


def test_a_step_behind_a_queued_message_is_answered_once_by_the_worker(wx, org, session):
    from services.appeals.routing import seed_routing

    seed_routing(session)
    session.commit()
    wx.say("/subscribe b-e-lz-1")
    wx.tell("3幢楼道的灯坏了")
    number = _one(session, select(Appeal.number)).number
    assert wx.say("小区门口的垃圾桶倒了，垃圾撒了一地") == menu.ACK_QUEUED  # still queued …
    reply, sent = _one_step(wx, f"催办{number}")  # … so the chase waits behind it, unacknowledged
    assert reply is None
    texts = [s["body"]["text"]["content"] for s in sent if s["kind"] == "custom"]
    assert texts[-1] == f"已为您催办诉求（编号{number}），承办单位会尽快处理。"
    assert sum("催办" in t for t in texts) == 1


def test_while_the_which_appeal_question_is_open_nothing_is_acknowledged_as_registered(wx, org, session):
    from services.appeals.routing import seed_routing

    seed_routing(session)
    session.commit()
    wx.say("/subscribe b-e-lz-1")
    wx.tell("3幢楼道的灯坏了")
    wx.tell("上次反映的问题怎么还没人来")
    assert _resident(session).dialog_state.startswith("intake:choose:")
    held, sent = _one_step(wx, "晚上一直黑着")  # held for the answer, not registered
    assert held is None
    [answer] = [s["body"]["text"]["content"] for s in sent]
    assert answer.startswith("已记下。")
    filed, sent = _one_step(wx, "0")  # files the held messages as a new appeal: one answer, with its number
    assert filed is None
    [answer] = [s["body"]["text"]["content"] for s in sent if s["kind"] == "custom"]
    newest = _rows(session, select(Appeal.number).order_by(Appeal.id.desc()).limit(1))[0].number
    assert f"编号 {newest}" in answer
