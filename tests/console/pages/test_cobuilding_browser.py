"""共建 pages in headless chromium: a grid branch secretary orders a suggested resource in one click, the unit's
兼职委员 signs in with the link its community gave and accepts (接单), and the secretary sees it accepted; and the
screenshots of the main 共建 pages (`make screenshots`)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.cobuilding import CobuildingOrder
from services.cobuilding import needs
from tests.console.pages.conftest import wait_for
from tests.console.pages.test_browser import _sign_in_by_link
from tests.console.pages.test_screenshots import WIDTHS, _png_width, _shoot
from tests.services.cobuilding.conftest import Cob, seed_cobuilding

pytestmark = pytest.mark.browser


@pytest.fixture
def cob(session: Session, org: Any, clock: Any) -> Cob:
    """Two member units with their 兼职委员 logins and a lecture resource, and a G1 need it can meet."""
    seeded = seed_cobuilding(session, org, capacity=3)
    needs.post(session, org.staff["g1_leader"], title="孩子情绪和心理健康讲座", kind="expertise", beneficiaries=30,
               description="家长希望有心理老师讲讲孩子的情绪管理")  # fmt: skip
    session.commit()
    return seeded


def _text(browser: Any, element_id: str) -> str:
    return str(wait_for(browser, lambda d: d.find_element(By.ID, element_id).text))


def test_a_secretary_orders_in_one_click_and_the_unit_signs_in_by_link_and_accepts(
    browser: Any, session: Session, org: Any, cob: Cob
) -> None:
    base = browser.base_url
    # The grid branch secretary (the G1 grid leader) opens the need and orders the first suggestion.
    _sign_in_by_link(browser, session, org.staff["g1_leader"].id)
    browser.find_element(By.LINK_TEXT, "共建").click()
    wait_for(browser, lambda d: d.find_element(By.ID, "needs"))
    browser.find_element(By.LINK_TEXT, "孩子情绪和心理健康讲座").click()
    suggestions = _text(browser, "suggestions")
    assert "青少年心理健康讲座" in suggestions
    assert "共同关键词：" in suggestions
    browser.find_element(By.ID, f"order-{cob.lecture.id}").click()
    wait_for(browser, lambda d: d.find_element(By.ID, "order-status").text == "待接单")  # the new page, not the old one
    assert "剩余" in _text(browser, "deadline")
    order_url = browser.current_url
    session.commit()
    order = session.scalar(select(CobuildingOrder).order_by(CobuildingOrder.id.desc()))
    assert order.need_id is not None

    # The community secretary gives the school's 兼职委员 a one-time sign-in link.
    browser.delete_all_cookies()
    _sign_in_by_link(browser, session, org.staff["secretary"].id)
    browser.get(f"{base}/console/cobuilding/units/{cob.school.id}")
    browser.find_element(By.CSS_SELECTOR, "#members button[id^='link-']").click()
    link = re.search(r"http://\S+/console/login/link/[\w-]+", _text(browser, "sign-in-link"))
    assert link, "the unit page shows the sign-in link"

    # The 兼职委员 opens it in their own browser, lands on the unit's orders and accepts.
    browser.delete_all_cookies()
    browser.get(link.group(0))
    browser.find_element(By.ID, "use-link").click()
    wait_for(browser, lambda d: d.find_element(By.ID, "orders"))
    nav = browser.find_element(By.CSS_SELECTOR, "nav[aria-label='主导航']").text
    assert "本单位订单" in nav
    assert "收件箱" not in nav
    browser.find_element(By.LINK_TEXT, f"共建订单 {order.id}").click()
    browser.find_element(By.ID, "do-accept").click()
    wait_for(browser, lambda d: d.find_element(By.ID, "order-status").text == "已接单")  # the new page, not the old one

    # Back on the secretary's side, the order shows accepted.
    browser.delete_all_cookies()
    _sign_in_by_link(browser, session, org.staff["g1_leader"].id)
    browser.get(order_url)
    wait_for(browser, lambda d: d.find_element(By.ID, "order-status").text == "已接单")  # the new page, not the old one


def test_screenshots_of_the_cobuilding_pages(
    browser: Any, session: Session, org: Any, cob: Cob, tmp_path: Path
) -> None:
    out = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    need_id = session.scalar(select(needs.CobuildingNeed.id).order_by(needs.CobuildingNeed.id))
    session.commit()
    base = browser.base_url
    _sign_in_by_link(browser, session, org.staff["g1_leader"].id)
    browser.get(f"{base}/console/cobuilding/needs/{need_id}")
    browser.find_element(By.ID, f"order-{cob.lecture.id}").click()
    wait_for(browser, lambda d: d.find_element(By.ID, "order-status"))
    order_path = browser.current_url.removeprefix(base)
    as_leader = {
        "cob-needs": "/console/cobuilding/needs",
        "cob-need": f"/console/cobuilding/needs/{need_id}",
        "cob-resources": "/console/cobuilding/resources",
        "cob-order": order_path,
    }
    as_secretary = {"cob-units": "/console/cobuilding/units", "cob-figures": "/console/cobuilding/figures"}
    shots = []
    for who, pages in (("g1_leader", as_leader), ("secretary", as_secretary)):
        if who == "secretary":
            browser.delete_all_cookies()
            _sign_in_by_link(browser, session, org.staff[who].id)
        for name, path in pages.items():
            for width in WIDTHS:
                _shoot(browser, base + path, out / f"{name}-{width}.png", width)
                shots.append(out / f"{name}-{width}.png")
    assert len(shots) == 2 * (len(as_leader) + len(as_secretary))
    for shot in shots:
        assert _png_width(shot) == int(shot.stem.rsplit("-", 1)[1])
