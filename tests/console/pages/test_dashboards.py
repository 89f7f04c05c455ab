"""分析研判 dashboards: scope per role, sample sizes against the hand-worked KPI script, well-formed SVG charts.

The appeals are test_kpi.py's script (November 2026: G1 has A1, A2, A5 and the consultation A4; G2 A3 and
A9; G3 A8; A6 and A10 never dispatched; A7 in October).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from defusedxml import ElementTree as SafeET
from sqlalchemy.orm import Session

from infra import clock
from tests.services.appeals.test_kpi import Script, build_script

NOV = "from=2026-11-01&to=2026-11-30"
SVG = re.compile(r"<svg\b.*?</svg>", re.S)
SVG_NS = "{http://www.w3.org/2000/svg}"


class _Tables(HTMLParser):
    """The text of every cell of the table with a given id, row by row."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.depth, self.rows, self.cell = table_id, 0, [], None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and (dict(attrs).get("id") == self.table_id or self.depth):
            self.depth += 1
        elif self.depth and tag == "tr":
            self.rows.append([])
        elif self.depth and tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.depth:
            self.depth -= 1
        elif self.depth and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join(self.cell.split()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell += data


def table(html: str, table_id: str) -> dict[str, list[str]]:
    """Body rows of a table keyed by their first cell."""
    parser = _Tables(table_id)
    parser.feed(html)
    assert parser.rows, f"no table #{table_id} on the page"
    return {row[0]: row[1:] for row in parser.rows[1:] if row}


@pytest.fixture
def scripted(session: Session, org: Any) -> dict[str, Any]:
    appeals = build_script(session, org)
    session.commit()
    return appeals


def test_the_secretary_sees_every_grid_with_sample_sizes(scripted: dict[str, Any], browser_for: Any) -> None:
    resp = browser_for("secretary").get(f"/console/dashboards?{NOV}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    rows = table(html, "dashboard-kpi")
    assert set(rows) == {"第一网格", "第二网格", "第三网格", "未派单"}
    # G1: 3 appeals, 3 dispatches (2 accepted on time), 3 closed, 3 rated — all under 5: 样本不足 with n.
    assert rows["第一网格"][:3] == ["3", "样本不足 (n=3)", "样本不足 (n=3)"]
    assert rows["第二网格"][0] == "2"
    assert rows["第二网格"][7:] == ["1", "2"]
    cards = " ".join(html.split('id="kpi-cards"', 1)[1].split("</ul>", 1)[0].split())
    # 8 appeals: 7 dispatches, 4 accepted on time; 5 rated (A1, A2, A3, A5, A9), 3 of them satisfied.
    assert '<span class="kpi-value">8</span>' in cards
    assert '57% <span class="muted">(n=7)</span>' in cards  # response 4 / 7
    assert '60% <span class="muted">(n=5)</span>' in cards  # satisfaction 3 / 5
    heat = table(html, "hotspots")
    assert sum(int(n) for row in heat.values() for n in row) == 8  # every appeal once, consultations apart


def test_a_grid_leader_sees_only_their_grid(scripted: dict[str, Any], browser_for: Any) -> None:
    leader = browser_for("g1_leader")
    html = leader.get(f"/console/dashboards?{NOV}").get_data(as_text=True)
    assert set(table(html, "dashboard-kpi")) == {"第一网格"}
    assert "第二网格" not in html
    assert "第三网格" not in html
    by_month = table(leader.get(f"/console/dashboards?{NOV}&group_by=month").get_data(as_text=True), "dashboard-kpi")
    assert by_month == {"2026-11": by_month["2026-11"]}
    assert by_month["2026-11"][0] == "3"
    weeks = table(leader.get(f"/console/dashboards?{NOV}").get_data(as_text=True), "trend")
    # Received in G1 over the 12 weeks: A1, A2, A5, the consultation A4, and A7 in October.
    assert sum(int(w[0]) for w in weeks.values()) == 5
    assert leader.get(f"/console/dashboards?{NOV}&group_by=department").status_code == 400


def test_a_department_sees_its_own_numbers(scripted: dict[str, Any], browser_for: Any) -> None:
    html = browser_for("dept_chengguan").get(f"/console/dashboards?{NOV}").get_data(as_text=True)
    rows = table(html, "dashboard-kpi")
    assert list(rows) == ["城管中队"]
    # 城管: A2 and A3 after its return; 2 dispatches, 1 on time; 1 closed; 2 rated.
    assert rows["城管中队"][:2] == ["2", "样本不足 (n=2)"]
    assert "市政管理所" not in html  # 市政 received A3 first and returned it: not this department's row


def test_filters_by_category_and_refuses_bad_input(
    scripted: None, browser_for: Any, session: Session, org: Any
) -> None:
    from models import Appeal

    for appeal in session.query(Appeal):
        appeal.category = "property" if appeal.property_company_id or appeal.id % 2 else "sanitation"
    session.commit()
    secretary = browser_for("secretary")
    by_category = table(secretary.get(f"/console/dashboards?{NOV}&group_by=category").get_data(as_text=True),
                        "dashboard-kpi")  # fmt: skip
    only = table(secretary.get(f"/console/dashboards?{NOV}&group_by=category&category=property").get_data(as_text=True),
                 "dashboard-kpi")  # fmt: skip
    assert list(only) == ["物业服务"]
    assert only["物业服务"] == by_category["物业服务"]
    for bad in ("category=nope", "from=2026-13-01", "from=2026-11-30&to=2026-11-01", "group_by=resident"):
        resp = secretary.get(f"/console/dashboards?{bad}")
        assert resp.status_code == 400, bad
        assert "<h1>请求有误</h1>" in resp.get_data(as_text=True)


def test_charts_are_well_formed_accessible_svg_without_inline_style(scripted: dict[str, Any], browser_for: Any) -> None:
    resp = browser_for("secretary").get(f"/console/dashboards?{NOV}")
    html = resp.get_data(as_text=True)
    charts = SVG.findall(html)
    assert len(charts) == 2
    for markup in charts:
        svg = SafeET.fromstring(markup)
        title, desc = svg.find(f"{SVG_NS}title"), svg.find(f"{SVG_NS}desc")
        assert title is not None
        assert title.text
        assert desc is not None
        assert desc.text
        assert svg.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
        texts = {t.text for t in svg.iter(f"{SVG_NS}text")}
        assert texts & {"件数", "办结率"}, "an axis title"
        assert all(e.get("style") is None for e in svg.iter())
    trend = SafeET.fromstring(charts[1])
    assert len(list(trend.iter(f"{SVG_NS}polyline"))) == 3  # received, closed, overdue
    assert " style=" not in html
    assert "<script>" not in html
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]


def test_a_new_event_shows_at_the_next_request(scripted: dict[str, Any], browser_for: Any, session: Session,
                                              org: Any) -> None:  # fmt: skip
    secretary = browser_for("secretary")

    def completion() -> str:
        html = secretary.get(f"/console/dashboards?{NOV}").get_data(as_text=True)
        return " ".join(html.split('id="kpi-cards"', 1)[1].split("</ul>", 1)[0].split())

    assert '62% <span class="muted">(n=8)</span>' in completion()  # 5 of 8 closed
    assert '62% <span class="muted">(n=8)</span>' in completion()  # the same figures, asked again
    Script(session, org).close(scripted["A8"], clock.now())
    session.commit()
    assert '75% <span class="muted">(n=8)</span>' in completion()  # A8 closed: 6 of 8, at once


def test_signed_out_browsers_go_to_sign_in(client: Any) -> None:
    resp = client.get("/console/dashboards")
    assert resp.status_code == 302
    assert "/console/login" in resp.headers["Location"]
