"""Duplicates ("me too"): same category, same building or nearby, recent, similar text → a supporter."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Appeal, AppealEvent, AppealSupporter, DuplicatePolicy, Resident
from nlp.classifier import Classifier
from nlp.model import CategoryWeights, KeywordModel
from services.appeals import duplicates, routing
from services.appeals.intake import handle_text
from services.appeals.records import create_appeal, supporters_of


def make_classifier() -> Classifier:
    """A small real keyword model (see test_routing.py) so these tests do not move with the shipped model."""
    kws = {"property": {"电梯": 3.0, "楼道灯": 3.0}, "sanitation": {"垃圾": 3.0}, "municipal": {"路灯": 3.0}}
    cats = {code: CategoryWeights(label=code, curated=k) for code, k in kws.items()}
    cats["other"] = CategoryWeights(label="other")
    return Classifier(KeywordModel(categories=cats, threshold=0.5, version="dup-test"))


CLF = make_classifier()


@pytest.fixture
def seeded(session: Session, org: Any, clock: Any) -> Any:
    routing.seed_routing(session)
    session.commit()
    return org


def person(session: Session, org: Any, building: str | None, openid: str) -> Resident:
    b = org.buildings[building] if building else None
    r = Resident(openid=openid, community_id=org.community.id, building_id=b.id if b else None,
                 grid_id=b.grid_id if b else None)  # fmt: skip
    session.add(r)
    session.flush()
    return r


def appeal_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Appeal).where(Appeal.kind == "appeal")) or 0


def test_jaccard_and_distance() -> None:
    a, b = frozenset({"电梯", "坏"}), frozenset({"电梯", "坏", "没人修"})
    assert duplicates.jaccard(a, b) == pytest.approx(2 / 3)
    assert duplicates.jaccard(frozenset(), frozenset()) == 0.0
    # 0.001° of latitude is about 111 m.
    assert duplicates.distance_m(31.300, 120.700, 31.301, 120.700) == pytest.approx(111.2, abs=0.5)


def test_same_building_similar_text_joins_as_supporter(session: Session, seeded: Any) -> None:
    alice = person(session, seeded, "E-LZ-2", "o-alice")
    bob = person(session, seeded, "E-LZ-2", "o-bob")
    first = handle_text(session, alice, "2幢电梯坏了，老人下不了楼", classifier=CLF).appeal
    assert first is not None
    second = handle_text(session, bob, "2幢的电梯又坏了", classifier=CLF)
    session.commit()
    assert second.appeal is first
    assert appeal_count(session) == 1
    assert first.number in second.reply
    assert "关注人" in second.reply
    assert supporters_of(session, first) == [bob.id]
    support = session.scalar(
        select(AppealEvent).where(AppealEvent.appeal_id == first.id, AppealEvent.action == "support")
    )
    assert support is not None
    assert support.payload["resident_id"] == bob.id
    assert (support.actor_type, support.actor_id, support.note) == ("resident", bob.id, "2幢的电梯又坏了")
    row = session.scalar(select(AppealSupporter))
    assert row is not None
    assert row.text == "2幢的电梯又坏了"


def test_a_repeat_me_too_is_kept_as_a_note_not_a_second_supporter(session: Session, seeded: Any) -> None:
    alice = person(session, seeded, "E-XY-1", "o-a")
    bob = person(session, seeded, "E-XY-1", "o-b")
    first = create_appeal(session, resident=alice, text="1幢电梯坏了", channel="wechat")
    first.category, first.status = "property", "dispatched"
    duplicates.link_supporter(session, first, bob, text="电梯坏了")
    duplicates.link_supporter(session, first, bob, text="电梯还是坏的")
    assert supporters_of(session, first) == [bob.id]
    notes = session.scalars(
        select(AppealEvent.note).where(AppealEvent.appeal_id == first.id, AppealEvent.action == "note")
    )
    assert list(notes) == ["电梯还是坏的"]


@pytest.mark.parametrize(
    ("building", "text", "why"),
    [
        ("E-LZ-3", "2幢电梯坏了", "another building"),
        ("E-LZ-2", "楼道灯不亮了", "another topic in the same category, dissimilar text"),
        ("E-LZ-2", "2幢门口垃圾没人收", "another category"),
    ],
)
def test_not_a_duplicate(session: Session, seeded: Any, building: str, text: str, why: str) -> None:
    alice = person(session, seeded, "E-LZ-2", "o-alice")
    bob = person(session, seeded, building, "o-bob")
    first = handle_text(session, alice, "2幢电梯坏了，老人下不了楼", classifier=CLF).appeal
    second = handle_text(session, bob, text, classifier=CLF).appeal
    assert second is not None, why
    assert second is not first, why
    assert appeal_count(session) == 2
    assert supporters_of(session, first) == []


def test_old_or_closed_appeals_are_not_joined(session: Session, seeded: Any, clock: Any) -> None:
    alice = person(session, seeded, "E-LZ-2", "o-alice")
    person(session, seeded, "E-LZ-2", "o-bob")
    first = handle_text(session, alice, "2幢电梯坏了", classifier=CLF).appeal
    assert first is not None
    clock.advance(timedelta(days=15))  # past the default 14-day window
    assert (
        duplicates.find_duplicate(session, category="property", text="电梯坏了", building_id=first.building_id) is None
    )
    clock.advance(timedelta(days=-14))
    found = duplicates.find_duplicate(session, category="property", text="电梯坏了", building_id=first.building_id)
    assert found is not None
    assert found.appeal is first
    assert found.reason == "building"
    first.status = "resolved"  # the handler says it is fixed: a new report means it is not
    assert (
        duplicates.find_duplicate(session, category="property", text="电梯坏了", building_id=first.building_id) is None
    )


def test_nearby_location_joins_far_one_does_not(session: Session, seeded: Any) -> None:
    alice = person(session, seeded, None, "o-alice")
    bob = person(session, seeded, None, "o-bob")
    carol = person(session, seeded, None, "o-carol")
    first = handle_text(session, alice, "这里的路灯不亮", latitude=31.3020, longitude=120.7020, classifier=CLF).appeal
    assert first is not None
    assert first.grid_id == seeded.grids["G1"].id
    near = handle_text(session, bob, "路灯不亮了", latitude=31.3024, longitude=120.7022, classifier=CLF)  # ~50 m
    far = handle_text(session, carol, "路灯不亮了", latitude=31.3040, longitude=120.7040, classifier=CLF)  # ~290 m
    assert near.appeal is first
    assert far.appeal is not None
    assert far.appeal is not first
    assert supporters_of(session, first) == [bob.id]


def test_policy_is_data_per_category(session: Session, seeded: Any) -> None:
    alice = person(session, seeded, "E-LZ-2", "o-alice")
    bob = person(session, seeded, "E-LZ-2", "o-bob")
    session.add(DuplicatePolicy(category="property", window_days=3, radius_m=30, threshold=0.9))
    session.flush()
    assert duplicates.policy_for(session, "property") == duplicates.Policy(3, 30, 0.9)
    assert duplicates.policy_for(session, "municipal") == duplicates.Policy()  # the default row
    first = handle_text(session, alice, "2幢电梯坏了，老人下不了楼", classifier=CLF).appeal
    second = handle_text(session, bob, "2幢的电梯又坏了", classifier=CLF).appeal
    assert second is not first
    assert appeal_count(session) == 2


def test_own_appeals_are_follow_ups_not_support(session: Session, seeded: Any) -> None:
    alice = person(session, seeded, "E-LZ-2", "o-alice")
    first = create_appeal(session, resident=alice, text="2幢电梯坏了", channel="wechat")
    first.category, first.status = "property", "dispatched"
    match = duplicates.find_duplicate(
        session,
        category="property",
        text="电梯坏了",
        building_id=first.building_id,
        exclude_resident_id=alice.id,
    )
    assert match is None


@pytest.mark.postgres
def test_duplicates_on_postgresql(pg_app: Any, clock: Any) -> None:
    from infra.web import get_db
    from services.demo import seed_org

    with get_db(pg_app).transaction() as session:
        org = seed_org(session)
        routing.seed_routing(session)
        alice = person(session, org, None, "o-alice")
        bob = person(session, org, None, "o-bob")
        first = handle_text(session, alice, "路灯不亮", latitude=31.3020, longitude=120.7020, classifier=CLF).appeal
        second = handle_text(session, bob, "路灯不亮了", latitude=31.3022, longitude=120.7021, classifier=CLF).appeal
        assert first is not None
        assert second is first
        assert supporters_of(session, first) == [bob.id]
