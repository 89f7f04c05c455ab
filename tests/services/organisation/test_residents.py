"""services.organisation.residents on the real database: profiles, binding by scene/building/location, erasure."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from infra.web import get_db
from models import Appeal, Grid, Resident
from services.errors import NotFound
from services.organisation import residents

OPENID = "oResidentBob00000000000000001"


def test_get_or_create_is_idempotent(session, clock):
    first = residents.get_or_create(session, OPENID)
    again = residents.get_or_create(session, OPENID)
    assert first.id == again.id
    assert session.scalar(select(func.count()).select_from(Resident)) == 1
    with pytest.raises(ValueError, match="openid"):
        residents.get_or_create(session, "")


def test_touch_inbound_restarts_the_window(session, clock):
    r = residents.get_or_create(session, OPENID)
    r.cs_sends_since_inbound = 3
    clock.advance(timedelta(hours=5))
    residents.touch_inbound(r)
    assert r.last_inbound_at == clock.now()
    assert r.cs_sends_since_inbound == 0
    assert r.subscribed is True


@pytest.mark.parametrize(
    ("lat", "lng", "grid"),
    [
        (31.3025, 120.7025, "G1"),
        (31.3025, 120.7075, "G2"),
        (31.3025, 120.7125, "G3"),
        (31.300, 120.700, "G1"),
    ],
)
def test_find_grid_point_in_polygon(session, org, lat, lng, grid):
    assert residents.find_grid(session, lat, lng).code == grid


def test_find_grid_outside_and_malformed_boundaries(session, org):
    assert residents.find_grid(session, 31.31, 120.70) is None  # north of every grid
    broken = Grid(community_id=org.community.id, code="BROKEN", name="坏边界", boundary={"type": "Polygon"})
    session.add(broken)
    session.flush()
    assert residents.find_grid(session, 31.3025, 120.7025).code == "G1"


def test_the_smallest_covering_grid_wins(session, org):
    inner = {
        "type": "Polygon",
        "coordinates": [
            [[120.701, 31.301], [120.702, 31.301], [120.702, 31.302], [120.701, 31.302], [120.701, 31.301]]
        ],
    }
    session.add(Grid(community_id=org.community.id, code="G1-A", name="第一网格A片", boundary=inner))
    session.flush()
    assert residents.find_grid(session, 31.3015, 120.7015).code == "G1-A"
    assert residents.find_grid(session, 31.304, 120.704).code == "G1"


def test_bind_to_building_sets_grid_and_community(session, org):
    r = residents.get_or_create(session, OPENID)
    binding = residents.bind_to_building(session, r, org.buildings["E-LZ-5"].id)
    assert (r.building_id, r.grid_id, r.community_id) == (
        org.buildings["E-LZ-5"].id, org.grids["G2"].id, org.community.id,
    )  # fmt: skip
    assert binding.describe() == "金鸡湖社区 第二网格 绿洲花园5幢"
    with pytest.raises(NotFound):
        residents.bind_to_building(session, r, 999_999)


def test_bind_by_location_drops_a_building_of_another_grid(session, org):
    r = residents.get_or_create(session, OPENID)
    residents.bind_to_building(session, r, org.buildings["E-LZ-1"].id)  # G1
    assert residents.bind_by_location(session, r, 31.3025, 120.7025).grid_id == org.grids["G1"].id
    assert r.building_id == org.buildings["E-LZ-1"].id  # same grid: building kept
    found = residents.bind_by_location(session, r, 31.3025, 120.7125)
    assert found.grid_name == "第三网格"
    assert r.building_id is None
    assert residents.bind_by_location(session, r, 0.0, 0.0) is None
    assert r.grid_id == org.grids["G3"].id  # unchanged by a miss


def test_bind_by_scene(session, org):
    r = residents.get_or_create(session, OPENID)
    assert residents.bind_by_scene(session, r, "nope") is None
    found = residents.bind_by_scene(session, r, "b-e-xy-2")
    assert (found.grid_id, found.building_id) == (org.grids["G3"].id, org.buildings["E-XY-2"].id)


def test_erasure_keeps_appeals_and_pseudonyms_stay_unique(session, org, clock):
    r = residents.get_or_create(session, OPENID)
    r.name, r.phone, r.room = "李四", "13912345678", "302"
    residents.bind_to_building(session, r, org.buildings["E-LZ-2"].id)
    session.add(Appeal(resident_id=r.id, text="车库漏水", number="HG0000000000001"))
    session.flush()
    erased = residents.erase_on_unsubscribe(session, OPENID)
    assert erased.id == r.id
    assert (r.name, r.phone, r.room, r.building_id, r.unionid) == (None, None, None, None, None)
    assert r.grid_id == org.grids["G1"].id  # coarse location kept for statistics
    assert r.openid.startswith("u:")
    assert r.erased_at == clock.now()
    assert session.scalar(select(Appeal.resident_id)) == r.id
    # The same person follows and leaves again: a second pseudonymous row, no unique-key clash.
    again = residents.subscribe(session, OPENID)
    assert again.id != r.id
    residents.erase_on_unsubscribe(session, OPENID)
    assert again.openid != r.openid
    assert residents.erase_on_unsubscribe(session, OPENID) is None


def test_public_view_masks_personal_data(session):
    r = residents.get_or_create(session, OPENID)
    r.name, r.phone = "王小明", "13812345678"
    view = residents.public_view(r)
    assert view["phone"] == "138****5678"
    assert view["name"] == "王**"
    assert "openid" not in view
    assert "room" not in view


@pytest.mark.postgres
def test_concurrent_first_contact_creates_one_resident_on_postgres(pg_app):
    db = get_db(pg_app)
    barrier = threading.Barrier(8)
    ids: list[int] = []
    errors: list[BaseException] = []

    def contact() -> None:
        with db.transaction() as s:
            barrier.wait()
            try:
                ids.append(residents.get_or_create(s, OPENID).id)
            except BaseException as e:  # surfaced below
                errors.append(e)
                raise

    threads = [threading.Thread(target=contact) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(ids)) == 1
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Resident)) == 1
