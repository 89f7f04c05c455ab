"""管理 in a real browser (Debian's headless chromium): a community with nothing but its secretary gets a grid with
a boundary, an estate and a building through the pages alone, and a mistake on a form is explained in Chinese."""

from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.org import Building, Community, Estate, Grid
from models.staff import Staff
from tests.console.pages.conftest import wait_for
from tests.console.pages.test_browser import _sign_in_by_link

pytestmark = pytest.mark.browser


def _fill(browser: Any, values: dict[str, str]) -> None:
    for name, value in values.items():
        element = browser.find_element(By.NAME, name)
        if element.tag_name == "select":
            Select(element).select_by_visible_text(value)
        else:
            element.clear()
            element.send_keys(value)


def _save(browser: Any) -> str:
    browser.find_element(By.ID, "save").click()
    return str(wait_for(browser, lambda d: (d.find_elements(By.ID, "saved") or d.find_elements(By.ID, "error")) and
                        d.find_element(By.TAG_NAME, "body").text))  # fmt: skip


def test_a_community_is_set_up_from_empty_and_a_form_error_is_explained(
    browser: Any, session: Session, sandbox: Any
) -> None:
    community = Community(code="C-NEW", name="新建社区", street="城南街道")
    session.add(community)
    session.flush()
    secretary = Staff(name="新书记", role="community_secretary", community_id=community.id)
    session.add(secretary)
    session.commit()
    _sign_in_by_link(browser, session, secretary.id)
    browser.find_element(By.LINK_TEXT, "管理").click()
    wait_for(browser, lambda d: d.find_elements(By.LINK_TEXT, "网格")).pop().click()
    wait_for(browser, lambda d: d.find_elements(By.ID, "new")).pop().click()

    # A boundary whose edges cross: refused, explained next to the field, nothing saved, what was typed kept.
    wait_for(browser, lambda d: d.find_elements(By.NAME, "boundary"))
    _fill(browser, {"code": "N1", "name": "新一网格",
                    "boundary": "120.70,31.30\n120.71,31.31\n120.71,31.30\n120.70,31.31"})  # fmt: skip
    text = _save(browser)
    assert "请更正以下标出的内容" in text
    assert "边界的边相互交叉" in browser.find_element(By.ID, "boundary-error").text
    assert browser.find_element(By.NAME, "name").get_attribute("value") == "新一网格"
    assert browser.find_element(By.NAME, "boundary").get_attribute("aria-invalid") == "true"
    session.expire_all()
    assert session.scalar(select(Grid).where(Grid.code == "N1")) is None

    _fill(browser, {"boundary": "120.70,31.30\n120.71,31.30\n120.71,31.31\n120.70,31.31"})
    text = _save(browser)
    assert "已保存" in text
    polygon = browser.find_element(By.CSS_SELECTOR, "#boundary-preview svg.map polygon")
    assert len(polygon.get_attribute("points").split()) == 5

    browser.get(f"{browser.base_url}/console/admin/estates/new")
    _fill(browser, {"code": "E-N", "name": "新苑小区"})
    assert "已保存" in _save(browser)
    browser.get(f"{browser.base_url}/console/admin/buildings/new")
    _fill(browser, {"estate_id": "新苑小区", "grid_id": "新一网格", "name": "1幢"})
    assert "已保存" in _save(browser)

    session.expire_all()
    grid = session.scalar(select(Grid).where(Grid.code == "N1"))
    estate = session.scalar(select(Estate).where(Estate.code == "E-N"))
    assert grid is not None
    assert grid.community_id == community.id
    assert grid.boundary is not None
    assert estate is not None
    assert estate.community_id == community.id
    building = session.scalar(select(Building).where(Building.estate_id == estate.id))
    assert building is not None
    assert (building.name, building.grid_id) == ("1幢", grid.id)
    browser.get(f"{browser.base_url}/console/admin/buildings/")
    assert "新苑小区" in browser.find_element(By.ID, "rows").text

    # Its QR code: issued from the sandbox, drawn on the sheet, and printed without the console around it.
    browser.get(f"{browser.base_url}/console/admin/qr")
    browser.find_element(By.ID, "issue-qr").click()
    card = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"#qr-{building.id} svg")).pop()
    assert card.get_attribute("aria-label") == "新苑小区 1幢 居民绑定二维码"
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert not browser.find_element(By.CSS_SELECTOR, "header.top").is_displayed()
        assert not browser.find_element(By.CSS_SELECTOR, ".no-print").is_displayed()  # title, filters, buttons
        assert browser.find_element(By.ID, f"qr-{building.id}").is_displayed()
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
