"""KPIs recomputed from appeal events, checked against numbers worked out by hand on scripted appeals.

The script (times in hours after T0 = Mon 2026-11-02 09:00 Suzhou; each dispatch has accept_due =
dispatch + 2 h and due = dispatch + 72 h):

A1  appeal, grid G1 (handler grid): dispatch 1, accept 2, resolve 24, close resolved 48, rate satisfied
A2  appeal, 城管 (grid G1): dispatch 1, accept 5 (late), resolve 97 (late), close resolved 100,
    rate unsatisfied
A3  appeal: dispatch 1 to 市政 (grid G2), return 2 (属地不符), dispatch 3 to 城管 (grid G2),
    accept 4, resolve 24, close resolved 30, rate basically_satisfied, reopen 72 (so not closed now)
A4  consultation, grid G1: dispatch, accept, resolve, close — counted only as a consultation
A5  appeal, 绿洲物业 (grid G1): dispatch 1, accept 2, resolve 48, close *unresolved* 50,
    rate unsatisfied
A6  appeal never dispatched, closed withdrawn at 1
A8  appeal, 星苑物业 (grid G3): dispatch 1, accept 10 (late); still open
A9  appeal, grid G2: dispatch 1, accept 2, resolve 20, close 30, rate satisfied 31, reopen 40
    (→ in_progress), resolve 50, close resolved 60, rate basically_satisfied 61 (the last rating counts)
A10 appeal received 2026-11-01 00:30 Suzhou (2026-10-31 16:30 UTC), never dispatched: its local month is
    November
A7  appeal received in October, grid G1: dispatch, accept on time, resolve, close resolved, rate satisfied
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from infra.web import get_db
from models import Appeal, AppealEvent
from services.appeals.kpi import KpiRow, kpi_summary, kpi_table
from services.demo import seed_org

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Suzhou
NOV = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)  # 2026-11-01 00:00 Suzhou
DEC = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # 2026-12-01 00:00 Suzhou
OCT = datetime(2026, 9, 30, 16, 0, tzinfo=UTC)


def h(hours: float, base: datetime = T0) -> datetime:
    return base + timedelta(hours=hours)


class Script:
    """Writes appeals and their events directly with the shared event vocabulary."""

    def __init__(self, session: Session, org: Any) -> None:
        self.session = session
        self.org = org

    def appeal(self, at: datetime, kind: str = "appeal") -> Appeal:
        appeal = Appeal(text="test", kind=kind, community_id=self.org.community.id)
        self.session.add(appeal)
        self.session.flush()
        self.event(appeal, "create", at, to_status="received", payload={"kind": kind, "channel": "wechat"})
        return appeal

    def event(self, appeal: Appeal, action: str, at: datetime, **fields: Any) -> None:
        self.session.add(AppealEvent(appeal_id=appeal.id, action=action, actor_type="system", created_at=at, **fields))
        self.session.flush()  # one at a time: ids follow the script's order

    def dispatch(
        self,
        appeal: Appeal,
        at: datetime,
        *,
        grid: str,
        department: str | None = None,
        company: str | None = None,
    ) -> None:
        handler = "department" if department else "property_company" if company else "grid"
        payload = {
            "handler_type": handler,
            "grid_id": self.org.grids[grid].id,
            "department_id": self.org.departments[department].id if department else None,
            "property_company_id": self.org.companies[company].id if company else None,
            "community_id": self.org.community.id,
            "accept_due_at": (at + timedelta(hours=2)).isoformat(),
            "due_at": (at + timedelta(hours=72)).isoformat(),
        }
        self.event(appeal, "dispatch", at, to_status="dispatched", payload=payload)

    def close(self, appeal: Appeal, at: datetime, code: str = "resolved") -> None:
        self.event(appeal, "close", at, to_status="closed", reason_code=code)

    def rate(self, appeal: Appeal, at: datetime, rating: str) -> None:
        self.event(appeal, "rate", at, payload={"rating": rating})


def build_script(session: Session, org: Any) -> dict[str, Appeal]:
    s = Script(session, org)
    a: dict[str, Appeal] = {}

    a["A1"] = s.appeal(h(0))
    s.dispatch(a["A1"], h(1), grid="G1")
    s.event(a["A1"], "accept", h(2), to_status="accepted")
    s.event(a["A1"], "resolve", h(24), to_status="resolved", note="已清理")
    s.close(a["A1"], h(48))
    s.rate(a["A1"], h(49), "satisfied")

    a["A2"] = s.appeal(h(0))
    s.dispatch(a["A2"], h(1), grid="G1", department="chengguan")
    s.event(a["A2"], "accept", h(5), to_status="accepted")
    s.event(a["A2"], "start", h(6), to_status="in_progress")
    s.event(a["A2"], "remind", h(40), payload={"level": 1})
    s.event(a["A2"], "overdue", h(73))
    s.event(a["A2"], "resolve", h(97), to_status="resolved")
    s.close(a["A2"], h(100))
    s.rate(a["A2"], h(101), "unsatisfied")

    a["A3"] = s.appeal(h(0))
    s.dispatch(a["A3"], h(1), grid="G2", department="municipal")
    s.event(a["A3"], "return", h(2), to_status="returned", reason_code="wrong_area", note="不属于市政")
    s.dispatch(a["A3"], h(3), grid="G2", department="chengguan")
    s.event(a["A3"], "accept", h(4), to_status="accepted")
    s.event(a["A3"], "resolve", h(24), to_status="resolved")
    s.close(a["A3"], h(30))
    s.rate(a["A3"], h(31), "basically_satisfied")
    s.event(a["A3"], "reopen", h(72), to_status="in_progress")

    a["A4"] = s.appeal(h(0), kind="consultation")
    s.dispatch(a["A4"], h(1), grid="G1")
    s.event(a["A4"], "accept", h(2), to_status="accepted")
    s.event(a["A4"], "resolve", h(3), to_status="resolved")
    s.close(a["A4"], h(4))

    a["A5"] = s.appeal(h(0))
    s.dispatch(a["A5"], h(1), grid="G1", company="PC-LH")
    s.event(a["A5"], "accept", h(2), to_status="accepted")
    s.event(a["A5"], "resolve", h(48), to_status="resolved")
    s.close(a["A5"], h(50), code="unresolved")
    s.rate(a["A5"], h(51), "unsatisfied")

    a["A6"] = s.appeal(h(0))
    s.event(a["A6"], "withdraw", h(1))
    s.close(a["A6"], h(1), code="withdrawn")

    a["A8"] = s.appeal(h(0))
    s.dispatch(a["A8"], h(1), grid="G3", company="PC-XY")
    s.event(a["A8"], "chase", h(8))
    s.event(a["A8"], "accept", h(10), to_status="accepted")

    a["A9"] = s.appeal(h(0))
    s.dispatch(a["A9"], h(1), grid="G2")
    s.event(a["A9"], "accept", h(2), to_status="accepted")
    s.event(a["A9"], "resolve", h(20), to_status="resolved")
    s.close(a["A9"], h(30))
    s.rate(a["A9"], h(31), "satisfied")
    s.event(a["A9"], "reopen", h(40), to_status="in_progress")
    s.event(a["A9"], "resolve", h(50), to_status="resolved")
    s.close(a["A9"], h(60))
    s.rate(a["A9"], h(61), "basically_satisfied")

    a["A10"] = s.appeal(datetime(2026, 10, 31, 16, 30, tzinfo=UTC))

    oct20 = datetime(2026, 10, 20, 2, 0, tzinfo=UTC)
    a["A7"] = s.appeal(oct20)
    s.dispatch(a["A7"], h(1, oct20), grid="G1")
    s.event(a["A7"], "accept", h(1.5, oct20), to_status="accepted")
    s.event(a["A7"], "resolve", h(10, oct20), to_status="resolved")
    s.close(a["A7"], h(20, oct20))
    s.rate(a["A7"], h(21, oct20), "satisfied")
    return a


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def scripted(request: pytest.FixtureRequest) -> Iterator[tuple[Session, Any]]:
    """The scripted appeals on SQLite and on PostgreSQL (the same numbers must come out of both)."""
    flask_app = request.getfixturevalue("app" if request.param == "sqlite" else "pg_app")
    session = get_db(flask_app).session()
    org = seed_org(session)
    build_script(session, org)
    session.commit()
    yield session, org
    session.close()


def by_key(rows: list[KpiRow]) -> dict[Any, KpiRow]:
    return {r.key: r for r in rows}


def counts(row: KpiRow) -> dict[str, Any]:
    d = row.as_dict()
    return {k: d[k] for k in COUNT_FIELDS}


COUNT_FIELDS = (
    "appeals", "consultations", "dispatched", "accepted_on_time", "closed", "closed_resolved", "resolved",
    "resolved_on_time", "rated", "satisfied", "resolve_samples", "returns", "reopens",
)  # fmt: skip


def expect(**values: int) -> dict[str, int]:
    base = dict.fromkeys(COUNT_FIELDS, 0)
    base.update(values)
    return base


def test_grid_kpis_match_hand_computed(scripted):
    session, org = scripted
    rows = by_key(kpi_table(session, start=NOV, end=DEC, group_by="grid"))
    g1, g2, g3 = (org.grids[c].id for c in ("G1", "G2", "G3"))
    assert set(rows) == {g1, g2, g3, None}

    # G1: A1, A2, A5 (+ A4 as a consultation). A2 accepted late and resolved late; A5 closed unresolved.
    assert counts(rows[g1]) == expect(
        appeals=3, consultations=1, dispatched=3, accepted_on_time=2, closed=3, closed_resolved=2, resolved=3,
        resolved_on_time=2, rated=3, satisfied=1, resolve_samples=3,
    )  # fmt: skip
    assert rows[g1].avg_hours_to_resolve == pytest.approx((23 + 96 + 47) / 3)
    assert rows[g1].response_rate == pytest.approx(2 / 3)
    assert rows[g1].completion_rate == 1.0
    assert rows[g1].resolution_rate == pytest.approx(2 / 3)
    assert rows[g1].satisfaction_rate == pytest.approx(1 / 3)
    assert rows[g1].label == "第一网格"

    # G2: A3 (two dispatches, one return, reopened after closing) and A9 (reopened, closed again).
    assert counts(rows[g2]) == expect(
        appeals=2, dispatched=3, accepted_on_time=2, closed=1, closed_resolved=1, resolved=2,
        resolved_on_time=2, rated=2, satisfied=2, resolve_samples=2, returns=1, reopens=2,
    )  # fmt: skip
    assert rows[g2].avg_hours_to_resolve == pytest.approx((23 + 19) / 2)  # A3's clock ran from the first dispatch
    assert rows[g2].completion_rate == 0.5

    # G3: A8, accepted late and still open.
    assert counts(rows[g3]) == expect(appeals=1, dispatched=1)
    assert rows[g3].response_rate == 0.0
    assert rows[g3].satisfaction_rate is None
    assert rows[g3].avg_hours_to_resolve is None

    # Never dispatched: A6 (withdrawn) and A10 (received 00:30 on 1 November local time).
    assert counts(rows[None]) == expect(appeals=2, closed=1)
    assert rows[None].label == "未派单"


def test_department_kpis_attribute_dispatches_and_appeals(scripted):
    session, org = scripted
    rows = by_key(kpi_table(session, start=NOV, end=DEC, group_by="department"))
    cg, muni = org.departments["chengguan"].id, org.departments["municipal"].id
    assert set(rows) == {cg, muni}
    # 市政 received A3 first and returned it: the dispatch and the return count against 市政,
    # the appeal itself does not.
    assert counts(rows[muni]) == expect(dispatched=1, returns=1)
    assert rows[muni].response_rate == 0.0
    assert rows[muni].completion_rate is None
    # 城管: A2 (late accept, late resolve, unsatisfied) and A3 after the return (on time, reopened).
    assert counts(rows[cg]) == expect(
        appeals=2, dispatched=2, accepted_on_time=1, closed=1, closed_resolved=1, resolved=2,
        resolved_on_time=1, rated=2, satisfied=1, resolve_samples=2, reopens=1,
    )  # fmt: skip
    assert rows[cg].avg_hours_to_resolve == pytest.approx((96 + 23) / 2)
    assert rows[cg].on_time_rate == 0.5


def test_property_company_kpis(scripted):
    session, org = scripted
    rows = by_key(kpi_table(session, start=NOV, end=DEC, group_by="property_company"))
    lh, xy = org.companies["PC-LH"].id, org.companies["PC-XY"].id
    assert counts(rows[lh]) == expect(
        appeals=1, dispatched=1, accepted_on_time=1, closed=1, resolved=1, resolved_on_time=1, rated=1,
        resolve_samples=1,
    )  # fmt: skip
    assert rows[lh].resolution_rate == 0.0  # closed as unresolved: completed but not resolved
    assert rows[lh].label == "绿洲物业"
    assert counts(rows[xy]) == expect(appeals=1, dispatched=1)


def test_month_grouping_uses_local_month_and_excludes_consultations(scripted):
    session, _ = scripted
    rows = by_key(kpi_table(session, start=OCT, end=DEC, group_by="month"))
    assert set(rows) == {"2026-10", "2026-11"}
    assert counts(rows["2026-10"]) == expect(
        appeals=1, dispatched=1, accepted_on_time=1, closed=1, closed_resolved=1, resolved=1,
        resolved_on_time=1, rated=1, satisfied=1, resolve_samples=1,
    )  # fmt: skip
    nov = rows["2026-11"]
    assert counts(nov) == expect(
        appeals=8, consultations=1, dispatched=7, accepted_on_time=4, closed=5, closed_resolved=3, resolved=5,
        resolved_on_time=4, rated=5, satisfied=3, resolve_samples=5, returns=1, reopens=2,
    )  # fmt: skip
    assert nov.completion_rate == pytest.approx(5 / 8)
    assert nov.avg_hours_to_resolve == pytest.approx((23 + 96 + 23 + 47 + 19) / 5)
    # The whole cohort in one row is the same as the month row here.
    assert counts(kpi_summary(session, start=NOV, end=DEC)) == counts(nov)


def test_as_of_replays_the_log_up_to_a_moment(scripted):
    session, org = scripted
    rows = by_key(kpi_table(session, start=NOV, end=DEC, group_by="grid", as_of=h(35)))
    g2 = rows[org.grids["G2"].id]
    # At T0+35h A3 was closed (its reopen came at 72 h) and A9 was closed with its first rating (satisfied).
    assert (g2.closed, g2.reopens, g2.rated, g2.satisfied) == (2, 0, 2, 2)
    g1 = rows[org.grids["G1"].id]
    # Only A1 was resolved by then (24 h); A1 and A5 closed at 48/50 h, A2 resolved at 97 h.
    assert (g1.resolved, g1.closed) == (1, 0)


def test_empty_window_and_bad_arguments(scripted):
    session, _ = scripted
    later = datetime(2027, 1, 1, tzinfo=UTC)
    assert kpi_table(session, start=later, end=later + timedelta(days=30), group_by="grid") == []
    empty = kpi_summary(session, start=later, end=later + timedelta(days=1))
    assert empty.appeals == 0
    assert empty.completion_rate is None
    with pytest.raises(ValueError, match="group_by"):
        kpi_table(session, start=NOV, end=DEC, group_by="street")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="after start"):
        kpi_table(session, start=DEC, end=NOV, group_by="grid")
