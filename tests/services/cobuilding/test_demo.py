"""`hongguan seed-demo`'s co-building data: units of every type, a few hundred resources and needs, idempotent."""

from __future__ import annotations

from sqlalchemy import func, select

from models.cobuilding import CobuildingNeed, CobuildingResource, CobuildingUnit
from services.cobuilding import matching
from services.cobuilding.demo import generated_needs, generated_resources, seed_cobuilding


def test_seed_demo_loads_units_resources_and_needs_once(session, org, clock):
    first = seed_cobuilding(session, org.community.id, org.staff["secretary"])
    seed_cobuilding(session, org.community.id, org.staff["secretary"])
    count = lambda model: session.scalar(select(func.count()).select_from(model))  # noqa: E731
    assert count(CobuildingResource) == first["resources"] == 300
    assert count(CobuildingNeed) == first["needs"] == 200
    kinds = set(session.scalars(select(CobuildingUnit.kind)))
    assert {"agency", "state_owned", "business", "school", "social_org"} <= kinds
    need = session.scalars(select(CobuildingNeed).order_by(CobuildingNeed.id)).first()
    suggestions = matching.suggest_for(session, need)
    assert suggestions
    assert suggestions[0]["shared_keywords"]


def test_the_generated_lists_are_deterministic_and_chinese():
    assert generated_resources(50) == generated_resources(50)
    assert generated_needs(30) == generated_needs(30)
    assert all("\u4e00" <= title[0] <= "\u9fff" for _, title, *_ in generated_resources(50))
