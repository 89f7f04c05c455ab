"""In the real browser: staff compose a call-up with one shift of quota 2, send it, two volunteers sign up in the
mini-program, and the call-up page shows 2/2 without a reload (htmx polling)."""

from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.by import By
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.callup import Callup
from services.volunteering import callups
from tests.console.pages.conftest import wait_for
from tests.console.pages.test_browser import _sign_in_by_link
from tests.console.pages.test_volunteers import person
from tests.miniapp_api.conftest import make_login

pytestmark = pytest.mark.browser


def test_a_callup_composed_and_sent_in_the_browser_fills_live(
    browser: Any, session: Session, org: Any, app: Any, client: Any, clock: Any
) -> None:
    a, b = (person(session, org, f"报名{i}", is_volunteer=True, miniapp_openid=f"omini-live-{i}") for i in range(2))
    _sign_in_by_link(browser, session, org.staff["community_staff"].id)
    browser.find_element(By.LINK_TEXT, "倡议").click()
    wait_for(browser, lambda d: d.find_elements(By.ID, "compose")).pop().click()
    form = wait_for(browser, lambda d: d.find_elements(By.ID, "callup-form")).pop()
    for field, value in {
        "title": "周末垃圾分类督导",
        "shift-place-0": "绿洲花园投放点",
        "shift-starts-0": "2026-11-21 09:00",  # the suite's clock stands at 2026-11-20 10:00 in Beijing
        "shift-ends-0": "2026-11-21 11:00",
        "shift-quota-0": "2",
        "closes": "2026-11-21 08:00",
    }.items():
        form.find_element(By.ID, field).send_keys(value)
    form.find_element(By.ID, "create-callup").click()
    wait_for(browser, lambda d: d.find_elements(By.ID, "send")).pop().click()
    # The page before the send carries a notice too (created): wait for the one the send's page brings.
    wait_for(browser, lambda d: "已交给发送队列" in d.find_element(By.ID, "done").text)
    assert "共 2 人" in browser.find_element(By.ID, "send-progress").text

    callup = session.scalar(select(Callup).where(Callup.title == "周末垃圾分类督导"))
    assert callup is not None
    shift = callups.shifts_of(session, callup.id)[0]
    session.commit()
    cell = browser.find_element(By.ID, f"fill-{shift.id}")
    assert cell.text == "0/2"
    browser.execute_script("window.stillThisPage = true")  # gone if the page were reloaded
    login = make_login(app)
    for volunteer in (a, b):
        resp = client.post(f"/api/v1/callups/shifts/{shift.id}/signup", headers=login(volunteer))
        assert resp.status_code == 201, resp.get_json()
        assert resp.get_json()["status"] == "confirmed"
    wait_for(browser, lambda d: d.find_element(By.ID, f"fill-{shift.id}").text == "2/2")
    assert browser.find_element(By.ID, "fill-total").text == "2/2"
    assert browser.execute_script("return window.stillThisPage") is True
