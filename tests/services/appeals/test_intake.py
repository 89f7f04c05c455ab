"""Intake conversations on the real database: new appeals, media, locations, courtesy, and the GovFlow-style
"which appeal is this about?" dialogue: follow-ups in a row never open several appeals or lose text."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from models import Appeal, AppealAttachment, AppealEvent, Department, PendingFollowUp, PendingJob, Resident, Staff
from nlp.classifier import Classifier
from nlp.model import CategoryWeights, KeywordModel
from services.appeals import routing
from services.appeals.intake import attach_location, attach_media, handle_text, is_courtesy, pending_texts
from services.notifications import notify


def make_classifier() -> Classifier:
    """A small real keyword model (see test_routing.py) so these tests do not move with the shipped model."""
    kws = {
        "property": {"电梯": 3.0, "楼道灯": 3.0},
        "sanitation": {"垃圾": 3.0},
        "municipal": {"路灯": 3.0},
        "noise": {"广场舞": 3.0},
        "fire_safety": {"飞线充电": 3.0},
        "consult": {"居住证": 3.0},
    }
    cats = {code: CategoryWeights(label=code, curated=k) for code, k in kws.items()}
    cats["other"] = CategoryWeights(label="other")
    return Classifier(KeywordModel(categories=cats, threshold=0.5, version="intake-test"))


CLF = make_classifier()


@pytest.fixture
def seeded(session: Session, org: Any, clock: Any) -> Any:
    routing.seed_routing(session)
    session.commit()
    return org


@pytest.fixture
def alice(session: Session, seeded: Any) -> Resident:
    b = seeded.buildings["E-LZ-2"]
    r = Resident(openid="o-alice", community_id=seeded.community.id, building_id=b.id, grid_id=b.grid_id)
    session.add(r)
    session.commit()
    return r


def say(session: Session, resident: Resident, text: str) -> Any:
    result = handle_text(session, resident, text, classifier=CLF)
    session.commit()  # each chat message is its own transaction, as in the webhook
    return result


def appeals_of(session: Session, resident: Resident) -> list[Appeal]:
    return list(session.scalars(select(Appeal).where(Appeal.resident_id == resident.id).order_by(Appeal.id)))


def notes(session: Session, appeal: Appeal) -> list[str | None]:
    stmt = select(AppealEvent.note).where(AppealEvent.appeal_id == appeal.id, AppealEvent.action == "note")
    return list(session.scalars(stmt.order_by(AppealEvent.id)))


def test_a_message_becomes_an_appeal_with_its_number(session: Session, alice: Resident) -> None:
    result = say(session, alice, "2幢电梯坏了")
    assert result.appeal is not None
    assert result.appeal.number in result.reply
    assert result.appeal.text == "2幢电梯坏了"
    assert result.appeal.resident_id == alice.id
    assert result.appeal.channel == "wechat"


@pytest.mark.parametrize("text", ["你好", "谢谢！", "好的", "  "])
def test_courtesy_and_empty_messages_open_nothing(session: Session, alice: Resident, text: str) -> None:
    result = say(session, alice, text)
    assert result.appeal is None
    assert result.reply
    assert appeals_of(session, alice) == []


def test_is_courtesy() -> None:
    assert is_courtesy("谢谢谢谢")
    assert is_courtesy("谢谢。")
    assert is_courtesy("您好")
    assert not is_courtesy("你好，电梯坏了")


def test_media_goes_to_the_latest_open_appeal(session: Session, alice: Resident) -> None:
    assert attach_media(session, alice, "image", "m-0").appeal is None  # nothing open yet: asks for a text
    appeal = say(session, alice, "2幢电梯坏了").appeal
    result = attach_media(session, alice, "image", "m-1", url="https://example.invalid/p.jpg")
    session.commit()
    assert result.appeal is appeal
    assert appeal.number in result.reply
    att = session.scalar(select(AppealAttachment))
    assert att is not None
    assert (att.appeal_id, att.kind, att.media_id, att.added_by_id) == (
        appeal.id,
        "image",
        "m-1",
        alice.id,
    )
    ev = session.scalar(select(AppealEvent).where(AppealEvent.action == "attach"))
    assert ev is not None
    assert ev.payload == {"kind": "image", "attachment_id": att.id}


def test_location_before_the_text_places_the_appeal(session: Session, alice: Resident, seeded: Any) -> None:
    result = attach_location(session, alice, 31.303, 120.712, label="星苑小区北门")
    session.commit()
    assert result.appeal is None
    assert alice.dialog_state
    assert alice.dialog_state.startswith("intake:loc:")
    appeal = say(session, alice, "这里路灯坏了").appeal
    assert appeal is not None
    assert (appeal.latitude, appeal.longitude) == (31.303, 120.712)
    assert appeal.grid_id == seeded.grids["G3"].id
    assert alice.dialog_state is None


def test_location_after_the_text_is_added_to_the_appeal(session: Session, seeded: Any) -> None:
    bob = Resident(openid="o-bob", community_id=seeded.community.id)  # not bound to a building
    session.add(bob)
    session.commit()
    appeal = say(session, bob, "路灯坏了").appeal
    assert appeal is not None
    assert appeal.department_id == seeded.departments["municipal"].id
    assert appeal.grid_id is None
    result = attach_location(session, bob, 31.302, 120.707)
    assert result.appeal is appeal
    assert appeal.grid_id == seeded.grids["G2"].id
    assert appeal.latitude == 31.302


# ------------------------------------------------------------------ which appeal is this about?


def test_a_follow_up_is_asked_about_then_attached(session: Session, alice: Resident) -> None:
    first = say(session, alice, "2幢电梯坏了").appeal
    asked = say(session, alice, "怎么还没人来修？")
    assert asked.appeal is None
    assert "这条消息是关于哪件诉求" in asked.reply
    assert f"回复 1：{first.number}" in asked.reply
    assert "回复 0 作为新诉求" in asked.reply
    assert alice.dialog_state == f"intake:choose:{first.id}"
    answered = say(session, alice, "1")
    assert answered.appeal is first
    assert first.number in answered.reply
    assert notes(session, first) == ["怎么还没人来修？"]
    ev = session.scalar(select(AppealEvent).where(AppealEvent.action == "note"))
    assert ev is not None
    assert (ev.actor_type, ev.actor_id) == ("resident", alice.id)
    assert alice.dialog_state is None
    assert pending_texts(session, alice.id) == []
    assert len(appeals_of(session, alice)) == 1


def test_three_follow_ups_in_a_row_then_new(session: Session, alice: Resident) -> None:
    say(session, alice, "2幢电梯坏了")
    texts = ["还有一件事", "楼下垃圾堆了三天", "又臭又脏"]
    for text in texts:
        result = say(session, alice, text)
        assert result.appeal is None
        assert "回复 0 作为新诉求" in result.reply
    assert [p.text for p in pending_texts(session, alice.id)] == texts
    assert len(appeals_of(session, alice)) == 1  # nothing opened yet, nothing lost
    created = say(session, alice, "0")
    appeals = appeals_of(session, alice)
    assert len(appeals) == 2
    assert created.appeal is appeals[1]
    assert created.appeal.text == "\n".join(texts)
    assert created.appeal.category == "sanitation"
    assert created.appeal.number in created.reply
    assert alice.dialog_state is None
    assert session.scalar(select(func.count()).select_from(PendingFollowUp)) == 0


def test_three_follow_ups_then_the_second_appeal(session: Session, alice: Resident, clock: Any) -> None:
    lift = say(session, alice, "2幢电梯坏了").appeal
    clock.advance(timedelta(minutes=5))
    dance = say(session, alice, "楼下广场舞太吵").appeal  # clearly new: another topic, no follow-up words
    assert dance is not None
    assert dance is not lift
    texts = ["什么时候处理？", "晚上十点还在跳", "孩子睡不着"]
    for text in texts:
        asked = say(session, alice, text)
    assert f"回复 1：{dance.number}" in asked.reply
    assert f"回复 2：{lift.number}" in asked.reply
    bad = say(session, alice, "7")
    assert "请回复 0 到 2" in bad.reply
    assert len(pending_texts(session, alice.id)) == 3
    answered = say(session, alice, "１")  # a full-width digit from a Chinese keyboard
    assert answered.appeal is dance
    assert notes(session, dance) == texts
    assert notes(session, lift) == []
    assert len(appeals_of(session, alice)) == 2


def test_quoting_an_appeal_number_attaches_directly(session: Session, alice: Resident) -> None:
    first = say(session, alice, "2幢电梯坏了").appeal
    result = say(session, alice, f"{first.number.lower()} 补充：是2号电梯")
    assert result.appeal is first
    assert alice.dialog_state is None
    assert notes(session, first) == [f"{first.number.lower()} 补充：是2号电梯"]


def test_an_emergency_is_never_held_back(session: Session, alice: Resident) -> None:
    say(session, alice, "2幢电梯坏了")
    say(session, alice, "还是没人管")  # now a question is pending
    urgent = say(session, alice, "楼道里飞线充电着火了，快来人")
    assert urgent.appeal is not None
    assert urgent.appeal.urgent
    assert urgent.appeal.status == "dispatched"
    assert "另：您之前的消息仍在等待确认" in urgent.reply
    assert [p.text for p in pending_texts(session, alice.id)] == ["还是没人管"]
    assert alice.dialog_state is not None
    assert alice.dialog_state.startswith("intake:choose:")


def test_a_consultation_is_answered_even_with_open_appeals(session: Session, alice: Resident) -> None:
    say(session, alice, "2幢电梯坏了")
    result = say(session, alice, "居住证在哪里办")
    assert result.appeal is not None
    assert result.appeal.kind == "consultation"
    assert "居住证" in result.reply
    assert alice.dialog_state is None


def test_chat_rating_after_resolution_closes_the_appeal_instead_of_filing_a_new_one(session, org, clock):
    from services.appeals import workflow
    from services.appeals.workflow import Actor

    resident = Resident(openid="o-rater", community_id=org.community.id, grid_id=org.grids["G1"].id,
                        building_id=org.buildings["E-LZ-1"].id)  # fmt: skip
    session.add(resident)
    session.flush()
    filed = handle_text(session, resident, "1幢楼道灯坏了好几天了，晚上很黑")
    appeal = filed.appeal
    assert appeal is not None
    worker = org.staff["g1_worker"]
    if appeal.status == "triaged":
        workflow.dispatch(session, appeal, actor=Actor("staff", org.staff["g1_leader"].id, "grid_leader"),
                          handler_type="grid")  # fmt: skip
    actor = Actor("staff", worker.id, worker.role) if appeal.handler_type == "grid" else None
    if actor is None:  # routed to the estate's property company
        pc = org.staff["pc_lh"]
        actor = Actor("staff", pc.id, pc.role)
    workflow.accept(session, appeal, actor=actor)
    workflow.start(session, appeal, actor=actor)
    workflow.resolve(session, appeal, actor=actor, reply="已修好")
    before = session.scalar(select(func.count()).select_from(Appeal))

    answer = handle_text(session, resident, "1")
    assert "满意" in answer.reply
    assert appeal.number in answer.reply
    assert (appeal.status, appeal.rating) == ("closed", "satisfied")
    assert session.scalar(select(func.count()).select_from(Appeal)) == before  # no new appeal for "1"


# ------------------------------------------------------------- the reply claims only the pushes queued


def _pushed_staff(session: Session, appeal: Appeal) -> list[Staff]:
    """Staff with a committed outbox row for a push about `appeal` (job args: staff_id … related_type, id)."""
    jobs = session.scalars(select(PendingJob).where(PendingJob.func == notify.STAFF_JOB).order_by(PendingJob.id))
    ids = [j.args[0] for j in jobs if (j.args[4], j.args[5]) == ("appeal", appeal.id)]
    return [session.get(Staff, i) for i in dict.fromkeys(ids)]


def _said_as(session: Session, member: Staff) -> str:
    if member.role == "department_staff":
        return session.get(Department, member.department_id).name
    assert member.role == "grid_leader", member.role
    return "网格长"


def test_an_unbound_residents_gas_report_names_only_the_units_actually_pushed(session: Session, seeded: Any) -> None:
    stranger = Resident(openid="o-unbound-gas")  # follows the account, never bound to an estate
    session.add(stranger)
    session.commit()
    result = handle_text(session, stranger, "楼道里闻到很重的煤气味")  # the shipped model
    session.commit()
    appeal = result.appeal
    assert appeal is not None
    assert appeal.urgent
    assert appeal.grid_id is None
    pushed = _pushed_staff(session, appeal)
    assert pushed, "the fire station's duty officer is pushed"
    named = [_said_as(session, m) for m in pushed]
    assert "网格长" not in named  # no grid, so no grid leader was pushed …
    assert "网格长" not in result.reply  # … and the resident is not told one was
    assert result.reply.startswith(f"【紧急】您的诉求已受理，编号 {appeal.number}，已立即通知")
    assert f"已立即通知{'和'.join(named)}处置" in result.reply


def test_a_bound_residents_urgent_report_names_the_department_and_the_grid_leader(
    session: Session, alice: Resident, seeded: Any
) -> None:
    result = handle_text(session, alice, "楼道里闻到很重的煤气味")
    session.commit()
    appeal = result.appeal
    assert appeal is not None
    assert appeal.urgent
    named = [_said_as(session, m) for m in _pushed_staff(session, appeal)]
    assert named == ["消防救援站", "网格长"]
    assert "已立即通知消防救援站和网格长处置" in result.reply


def test_nobody_pushed_means_nobody_claimed(session: Session, seeded: Any) -> None:
    # The fire station has nobody active in hongguan: the appeal is dispatched to it, but no push exists.
    session.execute(update(Staff).where(Staff.department_id == seeded.departments["fire"].id).values(active=False))
    stranger = Resident(openid="o-unbound-quiet")
    session.add(stranger)
    session.commit()
    result = handle_text(session, stranger, "楼道里闻到很重的煤气味")
    session.commit()
    appeal = result.appeal
    assert appeal is not None
    assert appeal.urgent
    assert appeal.status == "dispatched"
    assert _pushed_staff(session, appeal) == []
    assert "通知" not in result.reply
    assert "已转交消防救援站处置" in result.reply


def test_an_unplaced_appeal_to_a_department_takes_the_accounts_default_community(session: Session, seeded: Any) -> None:
    from models import Community

    other = Community(code="C-SOUTH", name="南苑社区")
    session.add(other)
    stranger = Resident(openid="o-unbound-default")
    session.add(stranger)
    session.commit()
    # Two communities: nothing says which one a placeless report to the fire station belongs to …
    unset = handle_text(session, stranger, "楼道里闻到很重的煤气味").appeal
    assert unset is not None
    assert unset.community_id is None
    # … until the account names its default community (HONGGUAN_DEFAULT_COMMUNITY).
    named = handle_text(session, stranger, "家里煤气泄漏了", default_community="C-SOUTH").appeal
    assert named is not None
    assert named.handler_type == "department"
    assert named.community_id == other.id
