"""The dashboards' summary gives the KPI table's numbers, scoped, filtered, and kept current from the event log.

The appeals are the hand-worked script of test_kpi.py (A1–A10, A7 in October): every figure the summary
gives must equal what `services.appeals.kpi` computes by replaying the log, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from infra.web import get_db
from models import Appeal, KpiFact
from services.appeals import analytics
from services.appeals.analytics import (
    Filters,
    hotspots,
    kpi_rows,
    kpi_total,
    overview,
    refresh_facts,
    weekly_trend,
)
from services.appeals.kpi import kpi_table
from services.demo import seed_org
from tests.services.appeals.test_kpi import DEC, NOV, OCT, Script, build_script, counts, expect, h

NOV_FILTERS = Filters(start=NOV, end=DEC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def summary(request: pytest.FixtureRequest, clock: Any) -> Iterator[tuple[Session, Any, dict[str, Appeal]]]:
    """The scripted appeals with their categories, and the summary built from them."""
    flask_app = request.getfixturevalue("app" if request.param == "sqlite" else "pg_app")
    session = get_db(flask_app).session()
    org = seed_org(session)
    appeals = build_script(session, org)
    for name, appeal in appeals.items():
        appeal.category = "property" if name in ("A5", "A8") else "sanitation" if name in ("A1", "A2") else None
    clock.freeze(h(200))
    assert refresh_facts(session) is True
    session.commit()
    yield session, org, appeals
    session.close()


@pytest.mark.parametrize("group_by", ["grid", "department", "property_company", "month", "all"])
def test_summary_gives_the_kpi_tables_numbers(summary, group_by):
    session, _, _ = summary
    for start, end in ((NOV, DEC), (OCT, DEC), (OCT, NOV)):
        replayed = {r.key: r for r in kpi_table(session, start=start, end=end, group_by=group_by)}
        summed = {r.key: r for r in kpi_rows(session, Filters(start=start, end=end), group_by)}
        assert {k: counts(r) for k, r in summed.items()} == {k: counts(r) for k, r in replayed.items()}
        for key, row in summed.items():
            assert row.avg_hours_to_resolve == pytest.approx(replayed[key].avg_hours_to_resolve)
            assert row.label == (replayed[key].label if group_by != "all" else "合计")


@pytest.mark.parametrize("group_by", ["grid", "category", "department", "month"])
def test_the_overview_adds_up_to_the_same_rows_total_and_hotspots(summary, group_by):
    session, org, _ = summary
    scopes = (NOV_FILTERS, Filters(start=OCT, end=DEC, unit=("grid", org.grids["G1"].id)))
    for filters in scopes:
        view = overview(session, filters, group_by)
        assert [(r.key, counts(r)) for r in view.rows] == [
            (r.key, counts(r)) for r in kpi_rows(session, filters, group_by)
        ]
        assert counts(view.total) == counts(kpi_rows(session, filters, "all")[0])
        assert view.heat == hotspots(session, filters)
        direct = kpi_rows(session, filters, "grid")  # hotspots agree with the grid rows' appeal counts
        assert {g: sum(view.heat.count(c, g) for c, _ in view.heat.categories) for g, _ in view.heat.grids} == {
            r.key: r.appeals for r in direct if r.appeals
        }


def test_one_row_per_appeal_and_segment(summary):
    session, _, appeals = summary
    # A3 has two dispatch segments (and its pre-dispatch part is dropped); A6 and A10 only the undispatched one.
    assert session.scalar(select(func.count()).select_from(KpiFact)) == len(appeals) + 1
    assert session.scalar(select(func.sum(KpiFact.is_last))) == len(appeals)


def test_grid_scope_keeps_only_that_grids_rows(summary):
    session, org, _ = summary
    g1 = org.grids["G1"].id
    scoped = Filters(start=NOV, end=DEC, unit=("grid", g1))
    # By month, a grid leader's numbers are G1's grid row, not the community's.
    (month,) = kpi_rows(session, scoped, "month")
    (grid_row,) = [r for r in kpi_table(session, start=NOV, end=DEC, group_by="grid") if r.key == g1]
    assert counts(month) == counts(grid_row)
    assert [r.key for r in kpi_rows(session, scoped, "grid")] == [g1]
    by_category = {r.key: r.appeals for r in kpi_rows(session, scoped, "category")}
    assert by_category == {"sanitation": 2, "property": 1, None: 0}  # A1, A2 | A5 | A4 is a consultation


def test_department_scope(summary):
    session, org, _ = summary
    cg = org.departments["chengguan"].id
    (row,) = kpi_rows(session, Filters(start=NOV, end=DEC, unit=("department", cg)), "all")
    assert counts(row) == expect(
        appeals=2, dispatched=2, accepted_on_time=1, closed=1, closed_resolved=1, resolved=2,
        resolved_on_time=1, rated=2, satisfied=1, resolve_samples=2, reopens=1,
    )  # fmt: skip


def test_category_filter_and_grouping(summary):
    session, _org, _ = summary
    rows = {r.key: r for r in kpi_rows(session, NOV_FILTERS, "category")}
    assert {k: r.appeals for k, r in rows.items()} == {None: 4, "property": 2, "sanitation": 2}
    assert rows["property"].label == "物业服务"
    assert rows[None].label == "未分类"
    total = kpi_total(session, Filters(start=NOV, end=DEC, category="property"))
    assert (total.appeals, total.dispatched, total.closed, total.rated) == (2, 2, 1, 1)


def test_hotspots_count_appeals_per_category_and_grid(summary):
    session, org, _ = summary
    heat = hotspots(session, NOV_FILTERS)
    g1, g2, g3 = (org.grids[c].id for c in ("G1", "G2", "G3"))
    assert heat.cells == {
        ("sanitation", g1): 2, ("property", g1): 1, ("property", g3): 1, (None, g2): 2, (None, None): 2,
    }  # fmt: skip
    assert heat.peak == 2
    assert heat.level("sanitation", g1) == 5
    assert heat.level("property", g3) == 3
    assert heat.level("property", g2) == 0
    assert heat.categories[0][0] in ("sanitation", "property", None)
    assert heat.grids[-1] == (None, "未派单")


def test_weekly_trend(summary, clock):
    session, _, _ = summary
    trend = weekly_trend(session, Filters(start=NOV, end=DEC))
    assert len(trend.weeks) == 12
    by_week = {w.start: w for w in trend.weeks}
    week_of_t0 = datetime(2026, 11, 1, 16, 0, tzinfo=UTC)  # Monday 2 November 00:00 Suzhou
    oct19 = datetime(2026, 10, 18, 16, 0, tzinfo=UTC)
    assert by_week[week_of_t0].received == 8  # A1–A6, A8, A9 (A4 a consultation); A10 came on Sunday
    assert by_week[oct19].received == 1
    assert by_week[oct19].closed == 1
    # Closed now: A1, A2, A5, A6, A9 (closed again) and A7; A4 is a consultation, A3 was reopened.
    assert sum(w.closed for w in trend.weeks) == 6
    # Deadlines missed: A2 (resolved at 97 h, due 73 h) and A8 (due 73 h, never resolved).
    assert sum(w.overdue for w in trend.weeks) == 2
    clock.freeze(h(30))  # before those deadlines passed, they are not overdue yet
    assert sum(w.overdue for w in weekly_trend(session, Filters(start=NOV, end=DEC)).weeks) == 0


def test_refresh_reads_new_events_and_nothing_else(summary, clock):
    session, org, appeals = summary
    assert refresh_facts(session) is False  # nothing written since
    s = Script(session, org)
    clock.freeze(h(300))
    s.event(appeals["A8"], "resolve", h(300), to_status="resolved")
    s.close(appeals["A8"], h(300))
    assert refresh_facts(session) is True
    session.commit()
    replayed = kpi_table(session, start=NOV, end=DEC, group_by="property_company")
    assert [counts(r) for r in kpi_rows(session, NOV_FILTERS, "property_company")] == [counts(r) for r in replayed]
    (xy,) = [r for r in kpi_rows(session, NOV_FILTERS, "property_company") if r.key == org.companies["PC-XY"].id]
    assert xy.closed == 1
    # A refresh soon after re-reads the margin before the last one (a transaction may commit late) …
    clock.freeze(h(300) + timedelta(minutes=1))
    assert refresh_facts(session) is True
    # … until a refresh made more than the margin after those events: the next one has nothing to re-read.
    clock.freeze(h(300) + analytics.LATE_COMMIT_MARGIN + timedelta(seconds=1))
    assert refresh_facts(session) is True
    assert refresh_facts(session) is False


@pytest.mark.postgres
def test_one_refresh_at_a_time_on_postgresql(pg_app, clock):
    """While one request builds the summary, another does not wait for it nor write a second copy."""
    db = get_db(pg_app)
    builder, other = db.session(), db.session()
    org = seed_org(builder)
    build_script(builder, org)
    builder.commit()
    assert refresh_facts(builder) is True  # holds the lock until it commits
    assert refresh_facts(other) is False
    assert analytics.summary_version(other) == ""  # the page then says the figures are being made
    other.rollback()
    builder.commit()
    assert analytics.summary_version(other) != ""
    assert refresh_facts(other) is False  # nothing new since
    builder.close()
    other.close()
