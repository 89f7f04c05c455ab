"""The dashboards in a real browser (Debian's headless chromium) at phone and desktop width."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from sqlalchemy.orm import Session

from services.appeals.property_ranking import compute_snapshot
from tests.console.pages.conftest import wait_for
from tests.console.pages.test_browser import _sign_in_by_link
from tests.services.appeals.test_kpi import build_script

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [360, 1280])
def test_the_dashboard_at_phone_and_desktop_width(browser: Any, session: Session, org: Any, width: int) -> None:
    build_script(session, org)
    session.commit()
    _sign_in_by_link(browser, session, org.staff["secretary"].id)
    metrics = {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": width < 600}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    browser.get(f"{browser.base_url}/console/dashboards?from=2026-11-01&to=2026-11-30")
    assert browser.find_element(By.TAG_NAME, "h1").text == "分析研判 · 仪表板"
    # Wide tables and charts scroll inside their box; the page itself never scrolls sideways.
    assert browser.execute_script("return document.documentElement.scrollWidth") <= width
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert len(charts) == 2
    for chart in charts:
        box = chart.find_element(By.XPATH, "..")
        assert box.size["width"] <= width
        assert chart.size["width"] >= min(540, box.size["width"])  # never shrunk below legible text
        assert chart.size["height"] > 100
    # The stylesheet colours the SVG through classes (inline styles would be blocked by the CSP).
    closed_dot = browser.find_element(By.CSS_SELECTOR, "svg.line-chart .series-closed circle")
    assert browser.execute_script("return getComputedStyle(arguments[0]).fill", closed_dot) == "rgb(38, 162, 105)"
    rows = browser.find_elements(By.CSS_SELECTOR, "#dashboard-kpi tbody tr")
    assert {r.find_element(By.TAG_NAME, "th").text for r in rows} == {"第一网格", "第二网格", "第三网格", "未派单"}
    # The filters are a real form: choosing 按类别 and submitting regroups the table.
    browser.find_element(By.CSS_SELECTOR, "select[name=group_by] option[value=category]").click()
    browser.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
    wait_for(browser, lambda d: d.find_element(By.ID, "table-h").text == "按类别")
    assert "group_by=category" in browser.current_url


def test_the_public_ranking_fits_a_360px_phone(browser: Any, session: Session, org: Any) -> None:
    compute_snapshot(session, now=datetime(2026, 12, 5, tzinfo=UTC))
    session.commit()
    metrics = {"width": 360, "height": 800, "deviceScaleFactor": 1, "mobile": True}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    browser.get(f"{browser.base_url}/public/rankings")
    assert browser.find_element(By.TAG_NAME, "h1").text == "物业服务红黑榜（2026-12）"
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 360
    names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#public-ranking tbody th")]
    assert "绿洲物业" in names
    assert all(e.is_displayed() for e in browser.find_elements(By.ID, "public-ranking"))
