"""Monthly rankings from the ledger: per grid and community, earned points only, ties to the earliest."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from models import Resident
from services.errors import DomainError
from services.points import board as rankings
from services.points import ledger as points


def resident(session: Any, org: Any, name: str, grid: str = "G1") -> Resident:
    r = Resident(name=name, community_id=org.community.id, grid_id=org.grids[grid].id, is_volunteer=True)
    session.add(r)
    session.flush()
    return r


def earn(session: Any, r: Resident, amount: int, key: str) -> None:
    points.post(session, r.id, amount, kind="earn", source_type="manual", source_id=None, idempotency_key=key)


def test_board_orders_by_points_then_earliest_and_ignores_spending(session, org, clock):
    zhang, li, wang = (
        resident(session, org, "张三丰"),
        resident(session, org, "李四"),
        resident(session, org, "王五", "G2"),
    )
    earn(session, li, 20, "li-1")
    clock.advance(timedelta(minutes=5))
    earn(session, zhang, 10, "zh-1")
    clock.advance(timedelta(minutes=5))
    earn(session, zhang, 10, "zh-2")  # 20 too, but reached later than 李四
    earn(session, wang, 15, "wang-1")
    points.post(session, li.id, -20, kind="spend", source_type="manual", source_id=None, idempotency_key="li-spend")
    session.commit()
    board = rankings.board(session, "2026-11", community_id=org.community.id)
    assert [(r.rank, r.resident_id, r.points) for r in board] == [
        (1, li.id, 20),
        (2, zhang.id, 20),
        (3, wang.id, 15),
    ]
    assert [r.name for r in board] == ["李*", "张**", "王*"]
    g1 = rankings.board(session, "2026-11", community_id=org.community.id, grid_id=org.grids["G1"].id)
    assert [r.resident_id for r in g1] == [li.id, zhang.id]
    assert rankings.my_rank(session, "2026-11", wang.id, community_id=org.community.id).rank == 3
    boards = rankings.grid_boards(session, "2026-11", community_id=org.community.id)
    assert [r.resident_id for r in boards[org.grids["G2"].id]] == [wang.id]
    assert boards[org.grids["G3"].id] == []


def test_seasons_are_local_months(session, org, clock):
    r = resident(session, org, "赵六")
    earn(session, r, 5, "nov")
    clock.advance(timedelta(days=10, hours=14))  # 2026-12-01 00:00 in Suzhou (still 30 Nov in UTC)
    earn(session, r, 7, "dec")
    session.commit()
    assert [x.points for x in rankings.board(session, "2026-11", community_id=org.community.id)] == [5]
    assert [x.points for x in rankings.board(session, "2026-12", community_id=org.community.id)] == [7]
    assert rankings.board(session, "2027-01", community_id=org.community.id) == []
    assert rankings.my_rank(session, "2027-01", r.id, community_id=org.community.id) is None
    with pytest.raises(DomainError, match="YYYY-MM"):
        rankings.board(session, "2026-13", community_id=org.community.id)


def test_points_stay_with_the_grid_they_were_earned_in(session, org, clock):
    mover = resident(session, org, "孙七")
    earn(session, mover, 10, "g1")
    mover.grid_id = org.grids["G3"].id
    session.flush()
    clock.advance(timedelta(days=1))
    earn(session, mover, 4, "g3")
    session.commit()
    g1 = rankings.board(session, "2026-11", community_id=org.community.id, grid_id=org.grids["G1"].id)
    g3 = rankings.board(session, "2026-11", community_id=org.community.id, grid_id=org.grids["G3"].id)
    assert [x.points for x in g1] == [10]
    assert [x.points for x in g3] == [4]
    whole = rankings.board(session, "2026-11", community_id=org.community.id)
    assert [(x.points, x.grid_id) for x in whole] == [(14, org.grids["G3"].id)]


def test_public_names_are_masked():
    assert rankings.public_name("欧阳娜娜") == "欧***"
    assert rankings.public_name("李") == "李*"
    # Without a name the board shows no id either: a resident id would identify the volunteer.
    assert rankings.public_name(None) == "匿名志愿者"
    assert rankings.public_name("  ") == "匿名志愿者"


def test_a_volunteer_without_a_name_shows_no_id(session, org, clock):
    nameless = resident(session, org, "")
    nameless.name = None
    earn(session, nameless, 8, "anon")
    session.commit()
    [row] = rankings.board(session, "2026-11", community_id=org.community.id)
    assert row.name == "匿名志愿者"
    assert str(nameless.id) not in row.name
