"""Routing on the real database: the rule table, property by estate, location → grid, triage, urgency,
consultations, staff corrections and the labelled-example export."""

from __future__ import annotations

import csv
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Appeal, AppealEvent, LabelledExample, PendingJob, Resident, RoutingRule
from nlp.classifier import Classifier
from nlp.model import CategoryWeights, KeywordModel
from services.appeals import routing
from services.appeals.intake import handle_text
from services.errors import Conflict, DomainError, Forbidden

# A small real keyword model (the production classifier class, with a table written for these tests), so the
# routing tests do not move when the shipped community model is retrained.
TEST_KEYWORDS: dict[str, dict[str, float]] = {
    "property": {"电梯": 3.0, "楼道灯": 3.0, "物业": 3.0},
    "sanitation": {"垃圾": 3.0},
    "municipal": {"路灯": 3.0, "井盖": 3.0},
    "city_order": {"摆摊": 3.0},
    "traffic_parking": {"停车": 3.0},
    "fire_safety": {"飞线充电": 3.0, "消防通道": 3.0},
    "public_security": {"小偷": 3.0},
    "noise": {"广场舞": 3.0},
    "neighbor": {"楼上漏水": 3.0},
    "social_welfare": {"低保": 3.0},
    "health": {"疫苗": 3.0},
    "education_culture": {"学校": 3.0},
    "consult": {"居住证": 3.0, "怎么办理": 2.0},
    "other": {},
}


def make_classifier() -> Classifier:
    """The test model: one strong curated keyword per topic; two topics at once fall below the threshold."""
    cats = {code: CategoryWeights(label=code, curated=dict(kws)) for code, kws in TEST_KEYWORDS.items()}
    return Classifier(KeywordModel(categories=cats, threshold=0.5, version="test-1"))


CLF = make_classifier()


@pytest.fixture
def seeded(session: Session, org: Any) -> Any:
    routing.seed_routing(session)
    session.commit()
    return org


def resident_in(session: Session, org: Any, building_key: str | None, openid: str) -> Resident:
    building = org.buildings[building_key] if building_key else None
    r = Resident(
        openid=openid,
        community_id=org.community.id,
        building_id=building.id if building else None,
        grid_id=building.grid_id if building else None,
    )
    session.add(r)
    session.flush()
    return r


def events(session: Session, appeal: Appeal) -> list[AppealEvent]:
    return list(session.scalars(select(AppealEvent).where(AppealEvent.appeal_id == appeal.id).order_by(AppealEvent.id)))


# ------------------------------------------------------------------ the rule table


def test_seed_routing_is_idempotent_and_covers_the_taxonomy(session: Session, org: Any) -> None:
    from nlp.taxonomy import CODES

    assert routing.seed_routing(session) == len(CODES)
    assert routing.seed_routing(session) == 0
    categories = set(session.scalars(select(RoutingRule.category)))
    assert categories == set(CODES)


DEPARTMENT_OF = {
    "municipal": "municipal",
    "city_order": "chengguan",
    "traffic_parking": "traffic",
    "fire_safety": "fire",
    "public_security": "police",
    "noise": "environment",
    "social_welfare": "civil_affairs",
    "health": "health",
    "education_culture": "education",
}


@pytest.mark.parametrize("category", sorted(DEPARTMENT_OF))
def test_department_categories_route_to_their_department(session: Session, seeded: Any, category: str) -> None:
    r = resident_in(session, seeded, "E-LZ-1", "o-d")
    appeal = Appeal(text="x", resident_id=r.id, building_id=r.building_id, grid_id=r.grid_id)
    session.add(appeal)
    session.flush()
    route = routing.decide(session, appeal, category)
    assert not route.needs_triage
    assert route.handler_type == "department"
    assert route.department_id == seeded.departments[DEPARTMENT_OF[category]].id
    assert route.grid_id == seeded.grids["G1"].id
    assert route.community_id == seeded.community.id


@pytest.mark.parametrize("category", ["sanitation", "neighbor"])
def test_grid_categories_stay_with_the_residents_grid(session: Session, seeded: Any, category: str) -> None:
    r = resident_in(session, seeded, "E-LZ-5", "o-g")
    appeal = Appeal(text="x", resident_id=r.id, building_id=r.building_id)
    session.add(appeal)
    session.flush()
    route = routing.decide(session, appeal, category)
    assert (route.handler_type, route.grid_id, route.needs_triage) == ("grid", seeded.grids["G2"].id, False)


@pytest.mark.parametrize(("building", "company"), [("E-LZ-2", "PC-LH"), ("E-LZ-6", "PC-LH"), ("E-XY-3", "PC-XY")])
def test_property_goes_to_the_estates_own_company(session: Session, seeded: Any, building: str, company: str) -> None:
    r = resident_in(session, seeded, building, f"o-{building}")
    appeal = Appeal(text="电梯坏了", resident_id=r.id, building_id=r.building_id)
    session.add(appeal)
    session.flush()
    route = routing.decide(session, appeal, "property")
    assert route.handler_type == "property_company"
    assert route.property_company_id == seeded.companies[company].id
    assert route.estate_id == seeded.buildings[building].estate_id


def test_property_without_a_known_estate_goes_to_triage(session: Session, seeded: Any) -> None:
    appeal = Appeal(text="电梯坏了", grid_id=seeded.grids["G1"].id)
    session.add(appeal)
    session.flush()
    route = routing.decide(session, appeal, "property")
    assert route.needs_triage
    assert route.grid_id == seeded.grids["G1"].id
    assert "物业" in route.note


def test_most_specific_rule_wins(session: Session, seeded: Any) -> None:
    lz, xy = seeded.estates["E-LZ"], seeded.estates["E-XY"]
    # In 星苑 parking is the property company's (private roads); in G1 it is the grid's own; a lower-priority
    # and an inactive rule must not win.
    session.add_all(
        [
            RoutingRule(category="traffic_parking", community_id=seeded.community.id,
                        handler_type="department", department_id=seeded.departments["chengguan"].id),
            RoutingRule(category="traffic_parking", estate_id=xy.id, handler_type="property_company"),
            RoutingRule(category="traffic_parking", grid_id=seeded.grids["G1"].id, handler_type="grid"),
            RoutingRule(category="traffic_parking", estate_id=lz.id, handler_type="department",
                        department_id=seeded.departments["police"].id, active=False),
        ]
    )  # fmt: skip
    session.flush()

    def route_for(building: str) -> routing.RouteDecision:
        appeal = Appeal(text="乱停车", building_id=seeded.buildings[building].id)
        session.add(appeal)
        session.flush()
        return routing.decide(session, appeal, "traffic_parking")

    xy_route = route_for("E-XY-1")
    assert (xy_route.handler_type, xy_route.property_company_id) == (
        "property_company",
        seeded.companies["PC-XY"].id,
    )
    assert route_for("E-LZ-1").handler_type == "grid"  # grid rule beats the community rule
    lz5 = route_for("E-LZ-5")  # G2, estate rule inactive → the community rule
    assert (lz5.handler_type, lz5.department_id) == ("department", seeded.departments["chengguan"].id)
    # Priority breaks a tie at the same level.
    session.add(RoutingRule(category="traffic_parking", community_id=seeded.community.id,
                            handler_type="department", department_id=seeded.departments["police"].id,
                            priority=5))  # fmt: skip
    session.flush()
    assert route_for("E-LZ-5").department_id == seeded.departments["police"].id


def test_no_rule_means_triage(session: Session, seeded: Any) -> None:
    session.execute(RoutingRule.__table__.update().where(RoutingRule.category == "health").values(active=False))
    appeal = Appeal(text="x", grid_id=seeded.grids["G3"].id)
    session.add(appeal)
    session.flush()
    route = routing.decide(session, appeal, "health")
    assert route.needs_triage
    assert route.rule_id is None


# ------------------------------------------------------------------ location → grid


@pytest.mark.parametrize(
    ("lat", "lng", "grid"),
    [(31.302, 120.702, "G1"), (31.301, 120.707, "G2"), (31.304, 120.713, "G3"), (31.305, 120.705, "G1")],
)
def test_grid_for_location(session: Session, org: Any, lat: float, lng: float, grid: str) -> None:
    found = routing.grid_for_location(session, lat, lng)
    assert found is not None
    assert found.code == grid


def test_location_outside_every_grid(session: Session, org: Any) -> None:
    assert routing.grid_for_location(session, 31.40, 120.70) is None


def test_appeal_with_a_location_is_routed_by_the_location(session: Session, seeded: Any, clock: Any) -> None:
    r = resident_in(session, seeded, "E-LZ-1", "o-loc")  # lives in G1, reports a lamp in G3
    result = handle_text(session, r, "路灯不亮", latitude=31.303, longitude=120.711, classifier=CLF)
    appeal = result.appeal
    assert appeal is not None
    assert appeal.building_id is None
    assert appeal.grid_id == seeded.grids["G3"].id
    assert appeal.community_id == seeded.community.id
    assert appeal.department_id == seeded.departments["municipal"].id


# ------------------------------------------------------------------ the whole step: stored decision, events


def test_routing_decision_is_stored_for_audit(session: Session, seeded: Any, clock: Any) -> None:
    r = resident_in(session, seeded, "E-XY-2", "o-audit")
    result = handle_text(session, r, "3幢电梯又坏了", classifier=CLF)
    session.commit()
    appeal = result.appeal
    assert appeal is not None
    assert appeal.status == "dispatched"
    assert (appeal.category, appeal.model_version, appeal.handler_type) == (
        "property",
        "test-1",
        "property_company",
    )
    assert appeal.property_company_id == seeded.companies["PC-XY"].id
    assert appeal.routing_keywords == [["电梯", 3.0]]
    assert "电梯 (+3.0)" in appeal.routing_note
    assert "星苑物业" in appeal.routing_note
    assert 0.5 < appeal.confidence < 1
    actions = [(e.action, e.to_status) for e in events(session, appeal)]
    assert actions == [("create", "received"), ("classify", None), ("dispatch", "dispatched")]
    classify = events(session, appeal)[1]
    assert classify.payload["category"] == "property"
    assert classify.payload["model_version"] == "test-1"
    assert classify.payload["keywords"] == [["电梯", 3.0]]
    assert appeal.number in result.reply
    assert "星苑物业" in result.reply


@pytest.mark.parametrize("text", ["你们能不能来看看", "电梯坏了，垃圾也没人收"])
def test_other_and_low_confidence_go_to_grid_triage(session: Session, seeded: Any, clock: Any, text: str) -> None:
    r = resident_in(session, seeded, "E-LZ-4", f"o-{len(text)}")
    result = handle_text(session, r, text, classifier=CLF)
    appeal = result.appeal
    assert appeal is not None
    assert appeal.status == "triaged"
    assert appeal.grid_id == seeded.grids["G2"].id
    assert appeal.handler_type is None
    assert appeal.dispatched_at is None
    classify = events(session, appeal)[1]
    assert (classify.action, classify.from_status, classify.to_status) == ("classify", "received", "triaged")
    assert "分拣" in appeal.routing_note
    assert "网格" in result.reply


def test_consultation_is_answered_not_dispatched(session: Session, seeded: Any, clock: Any) -> None:
    r = resident_in(session, seeded, "E-LZ-1", "o-consult")
    result = handle_text(session, r, "居住证怎么办理？", classifier=CLF)
    appeal = result.appeal
    assert appeal is not None
    assert appeal.kind == "consultation"
    assert appeal.status == "closed"
    assert appeal.closure_code == "resolved"
    assert appeal.dispatched_at is None
    assert "身份证" in result.reply
    assert "租房合同" in result.reply
    assert "9:00" in result.reply
    actions = [(e.action, e.payload.get("kind")) for e in events(session, appeal)]
    assert actions == [("create", "consultation"), ("classify", None), ("close", None)]
    assert not any(e.action == "dispatch" for e in events(session, appeal))


def test_consult_answer_falls_back_to_the_general_answer(session: Session, seeded: Any) -> None:
    assert "社区党群服务中心" in routing.consult_answer(session, "请问要带什么材料")
    assert "居住证" in routing.consult_answer(session, "居住证到期了怎么续")


def _staff_pushes(session: Session) -> list[PendingJob]:
    return [j for j in session.scalars(select(PendingJob).order_by(PendingJob.id)) if j.func.endswith("_to_staff")]


def test_urgent_appeal_is_dispatched_and_pushed_at_once(session: Session, seeded: Any, clock: Any) -> None:
    r = resident_in(session, seeded, "E-LZ-2", "o-fire")
    result = handle_text(session, r, "楼道里飞线充电，现在着火了！", classifier=CLF)
    session.commit()
    appeal = result.appeal
    assert appeal is not None
    assert appeal.urgent
    assert "火情" in appeal.urgency_reasons
    assert appeal.status == "dispatched"
    assert appeal.department_id == seeded.departments["fire"].id
    assert result.reply.startswith("【紧急】")
    assert "119" in result.reply
    # The push to the fire station's duty officer and to G1's grid leader is in the outbox, committed with the
    # appeal, so it goes out even if Redis is down right now.
    pushes = [j for j in _staff_pushes(session) if j.queue == "urgent"]
    pushed_to = {j.args[0] for j in pushes}
    assert {seeded.staff["dept_fire"].id, seeded.staff["g1_leader"].id} <= pushed_to
    assert all(j.args[-1] is True for j in pushes)  # the urgent flag reaches the delivery job
    leader_push = next(j for j in pushes if j.args[0] == seeded.staff["g1_leader"].id)
    assert appeal.number in str(leader_push.args)
    assert "火情" in str(leader_push.args)


def test_unclear_urgent_appeal_goes_straight_to_the_grid(session: Session, seeded: Any, clock: Any) -> None:
    r = resident_in(session, seeded, "E-XY-1", "o-fall")
    result = handle_text(session, r, "快来人，有个老人摔倒了起不来", classifier=CLF)
    appeal = result.appeal
    assert appeal is not None
    assert appeal.urgent
    assert (appeal.status, appeal.handler_type, appeal.grid_id) == (
        "dispatched",
        "grid",
        seeded.grids["G3"].id,
    )
    assert "直接派网格" in appeal.routing_note


# ------------------------------------------------------------------ staff corrections


def _triaged(session: Session, org: Any, text: str = "你们能不能来看看门口那个坑") -> Appeal:
    r = resident_in(session, org, "E-LZ-1", f"o-tri-{len(text)}")
    appeal = handle_text(session, r, text, classifier=CLF).appeal
    assert appeal is not None
    assert appeal.status == "triaged"
    return appeal


def test_recategorise_reroutes_and_records_a_labelled_example(session: Session, seeded: Any, clock: Any) -> None:
    appeal = _triaged(session, seeded)
    leader = seeded.staff["g1_leader"]
    routing.recategorise(session, appeal, "municipal", staff_id=leader.id, note="路面坑洞归市政")
    session.commit()
    assert appeal.category == "municipal"
    assert appeal.status == "dispatched"
    assert appeal.department_id == seeded.departments["municipal"].id
    recat = [e for e in events(session, appeal) if e.action == "recategorise"]
    assert len(recat) == 1
    assert recat[0].payload == {"from": "other", "to": "municipal"}
    assert (recat[0].actor_type, recat[0].actor_id) == ("staff", leader.id)
    example = session.scalar(select(LabelledExample))
    assert example is not None
    assert (example.text, example.label, example.source, example.appeal_id, example.staff_id) == (
        appeal.text, "municipal", "staff_correction", appeal.id, leader.id,
    )  # fmt: skip
    assert routing.export_labelled_examples(session) == [(appeal.text, "municipal")]


def test_recategorise_a_dispatched_appeal_sends_it_to_the_new_unit(session: Session, seeded: Any, clock: Any) -> None:
    r = resident_in(session, seeded, "E-LZ-1", "o-wrong")
    appeal = handle_text(session, r, "门口有人摆摊", classifier=CLF).appeal
    assert appeal is not None
    assert appeal.department_id == seeded.departments["chengguan"].id
    routing.recategorise(session, appeal, "traffic_parking", staff_id=seeded.staff["community_staff"].id)
    assert appeal.status == "dispatched"
    assert appeal.department_id == seeded.departments["traffic"].id
    assert [e.action for e in events(session, appeal)][-3:] == ["recategorise", "classify", "dispatch"]


def test_recategorise_checks_role_scope_and_state(session: Session, seeded: Any, clock: Any) -> None:
    appeal = _triaged(session, seeded)
    with pytest.raises(Forbidden):
        routing.recategorise(session, appeal, "municipal", staff_id=seeded.staff["dept_fire"].id)
    with pytest.raises(Forbidden):  # the G3 leader does not look after G1
        routing.recategorise(session, appeal, "municipal", staff_id=seeded.staff["g3_leader"].id)
    with pytest.raises(DomainError):
        routing.recategorise(session, appeal, "weather", staff_id=seeded.staff["g1_leader"].id)
    appeal.status = "accepted"
    with pytest.raises(Conflict):
        routing.recategorise(session, appeal, "municipal", staff_id=seeded.staff["g1_leader"].id)
    assert session.scalar(select(func.count()).select_from(LabelledExample)) == 0


def test_export_keeps_the_latest_label_per_appeal(session: Session, seeded: Any, clock: Any) -> None:
    appeal = _triaged(session, seeded)
    routing.recategorise(session, appeal, "municipal", staff_id=seeded.staff["g1_leader"].id)
    session.add(LabelledExample(text="楼下烧烤油烟大", label="city_order", source="import"))
    appeal.status = "triaged"  # sent back before acceptance; corrected again
    routing.recategorise(session, appeal, "property", staff_id=seeded.staff["secretary"].id)
    session.flush()
    assert routing.export_labelled_examples(session) == [
        (appeal.text, "property"),
        ("楼下烧烤油烟大", "city_order"),
    ]


def test_nlp_export_command_writes_a_training_csv(
    app: Any, session: Session, seeded: Any, clock: Any, tmp_path: Any
) -> None:
    from cli.routing_commands import routing_group
    from nlp.train import read_csv

    appeal = _triaged(session, seeded, "小区门口，有个坑，很危险")
    routing.recategorise(session, appeal, "municipal", staff_id=seeded.staff["g1_leader"].id)
    session.commit()
    out = tmp_path / "corrections.csv"
    result = app.test_cli_runner().invoke(routing_group, ["nlp-export", "-o", str(out)])
    assert result.exit_code == 0, result.output
    with open(out, encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows == [["text", "label"], ["小区门口，有个坑，很危险", "municipal"]]
    assert [(e.text, e.label) for e in read_csv(out)] == [("小区门口，有个坑，很危险", "municipal")]


# ------------------------------------------------------------------ with the shipped community model


@pytest.mark.parametrize(
    ("building", "text", "handler", "unit"),
    [
        ("E-XY-2", "2幢电梯坏了三天了没人修", "property_company", "PC-XY"),
        ("E-LZ-1", "楼下广场舞太吵了，晚上十点还在跳", "department", "environment"),
        ("E-LZ-5", "小区垃圾没人清理，很臭", "grid", "G2"),
    ],
)
def test_default_model_end_to_end(
    session: Session, seeded: Any, clock: Any, building: str, text: str, handler: str, unit: str
) -> None:
    r = resident_in(session, seeded, building, f"o-default-{building}")
    appeal = handle_text(session, r, text).appeal  # no classifier given: the process-wide default model
    assert appeal is not None
    assert appeal.status == "dispatched"
    assert appeal.handler_type == handler
    expected = {
        "property_company": lambda: appeal.property_company_id == seeded.companies[unit].id,
        "department": lambda: appeal.department_id == seeded.departments[unit].id,
        "grid": lambda: appeal.grid_id == seeded.grids[unit].id,
    }[handler]
    assert expected()
    assert appeal.model_version
    assert appeal.routing_keywords
    assert appeal.confidence >= 0.5


def test_route_reports_everyone_it_queued_a_notification_for(session: Session, seeded: Any, clock: Any) -> None:
    from services.appeals import workflow
    from services.appeals.records import create_appeal

    r = resident_in(session, seeded, "E-LZ-2", "o-told")
    urgent = create_appeal(session, resident=r, text="楼道里飞线充电，现在着火了！", channel="wechat")
    route = routing.route_appeal(session, urgent, CLF.classify(urgent.text))
    pushed = {j.args[0] for j in _staff_pushes(session)}
    assert set(route.notified_staff_ids) == pushed
    assert {seeded.staff["dept_fire"].id, seeded.staff["g1_leader"].id} <= pushed
    assert len(route.notified_staff_ids) == len(set(route.notified_staff_ids))

    unclear = create_appeal(session, resident=r, text="你们能不能来看看门口那个坑", channel="wechat")
    route = routing.route_appeal(session, unclear, CLF.classify(unclear.text))
    assert unclear.status == "triaged"
    assert unclear.triage_due_at is not None
    assert route.notified_staff_ids  # nobody is left uninformed
    assert route.notified_staff_ids == workflow.last_notified(session, unclear, "triage")
    assert set(route.notified_staff_ids) <= {j.args[0] for j in _staff_pushes(session)}


def test_triaged_appeal_shows_staff_the_top_two_suggestions(session: Session, seeded: Any, clock: Any) -> None:
    r = resident_in(session, seeded, "E-LZ-4", "o-two-topics")
    appeal = handle_text(session, r, "电梯坏了，垃圾也没人收", classifier=CLF).appeal
    assert appeal is not None
    assert appeal.status == "triaged"
    classify = events(session, appeal)[1]
    assert [code for code, _, _ in classify.payload["suggestions"]] == ["property", "sanitation"]
    shares = [share for _, _, share in classify.payload["suggestions"]]
    assert 0 < shares[1] <= shares[0] < 1
    assert f"建议：property {shares[0]:.0%} / sanitation {shares[1]:.0%}" in appeal.routing_note


def test_message_without_any_keyword_has_no_suggestions(session: Session, seeded: Any, clock: Any) -> None:
    r = resident_in(session, seeded, "E-LZ-4", "o-nothing")
    appeal = handle_text(session, r, "你们能不能来看看", classifier=CLF).appeal
    assert appeal is not None
    assert appeal.status == "triaged"
    assert events(session, appeal)[1].payload["suggestions"] == []
    assert "建议" not in appeal.routing_note
