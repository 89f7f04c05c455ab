"""The console in a real browser (Debian's headless chromium): the whole loop from a resident's WeChat message to
the KPI page, QR-scene sign-in with htmx polling, staff intake, scope refusal by URL and CSRF refusal."""

from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.by import By
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.appeal import Appeal
from services.console.signin import issue_link
from tests.console.pages.conftest import scan, wait_for

pytestmark = pytest.mark.browser


def _sign_in_by_link(browser: Any, session: Session, staff_id: int) -> None:
    token = issue_link(session, staff_id)
    session.commit()
    browser.get(f"{browser.base_url}/console/login/link/{token}")
    browser.find_element(By.ID, "use-link").click()
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "nav[aria-label='主导航']"))


def _body(browser: Any) -> str:
    return str(wait_for(browser, lambda d: d.find_element(By.TAG_NAME, "body").text))


def test_the_whole_loop_from_a_wechat_message_to_the_kpi_page(
    browser: Any, session: Session, org: Any, wechat: Any, routed: None
) -> None:
    wechat.say("/subscribe b-e-lz-1")
    wechat.tell("3幢楼下垃圾堆了好几天没人清运，味道很大")
    appeal = session.scalar(select(Appeal).order_by(Appeal.id.desc()))
    number, public_id = appeal.number, appeal.public_id
    assert appeal.status == "dispatched"
    assert appeal.grid_id == org.grids["G1"].id
    session.commit()

    _sign_in_by_link(browser, session, org.staff["g1_leader"].id)
    assert "收件箱" in browser.title
    browser.find_element(By.PARTIAL_LINK_TEXT, number).click()
    wait_for(browser, lambda d: d.find_elements(By.ID, "do-accept")).pop().click()
    wait_for(browser, lambda d: d.find_elements(By.ID, "do-start")).pop().click()
    reply = wait_for(browser, lambda d: d.find_elements(By.ID, "reply")).pop()
    reply.send_keys("垃圾已清运，已安排保洁每天巡查")
    browser.find_element(By.ID, "do-resolve").click()
    wait_for(browser, lambda d: "已办结" in d.find_element(By.ID, "status").text)
    assert "垃圾已清运" in _body(browser)

    wechat.run_jobs()  # the resident is told and asked to rate
    assert any("垃圾已清运" in text for text in wechat.answers())
    rated = wechat.say("1")
    assert rated is not None
    assert "感谢您的评价（满意）" in rated

    browser.get(f"{browser.base_url}/console/appeals/{public_id}")
    assert "满意" in browser.find_element(By.ID, "rating").text
    browser.get(f"{browser.base_url}/console/kpi")
    table = browser.find_element(By.ID, "kpi").text
    assert "满意率" in table
    row = next(line for line in table.splitlines() if line.startswith(org.grids["G1"].name))
    assert "100% (n=1)" in row


def test_qr_sign_in_polls_until_the_scan_arrives(browser: Any, org: Any, sandbox: Any, wechat: Any) -> None:
    browser.get(f"{browser.base_url}/console/login")
    browser.find_element(By.ID, "get-qr").click()
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".qr svg"))
    assert "等待扫码" in _body(browser)
    [(ticket, body)] = sandbox.qr_codes().items()
    reply = scan(wechat, org.staff["secretary"].openid, body["action_info"]["scene"]["scene_str"], ticket)
    assert reply is not None
    assert "已登录" in reply
    wait_for(browser, lambda d: d.current_url.endswith("/console/"))  # htmx's poll followed HX-Redirect
    assert org.staff["secretary"].name in _body(browser)


def test_staff_intake_from_the_form(browser: Any, session: Session, org: Any, routed: None) -> None:
    _sign_in_by_link(browser, session, org.staff["community_staff"].id)
    browser.get(f"{browser.base_url}/console/intake")
    browser.find_element(By.ID, "submit-intake").click()  # empty: the errors are explained in Chinese
    wait_for(browser, lambda d: d.find_elements(By.ID, "error"))
    assert "请描述问题" in _body(browser)
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element(By.ID, "building_id")).select_by_value(str(org.buildings["E-LZ-1"].id))
    browser.find_element(By.ID, "text").send_keys("1幢门口垃圾桶满了好几天没人清运")
    browser.find_element(By.ID, "phone").send_keys("13900001111")
    browser.find_element(By.ID, "submit-intake").click()
    wait_for(browser, lambda d: "/console/appeals/" in d.current_url)
    assert "电话来电" in _body(browser)
    appeal = session.scalar(select(Appeal).order_by(Appeal.id.desc()))
    assert appeal.channel == "phone"
    assert appeal.status == "dispatched"


def test_a_grid_leader_cannot_open_another_grids_appeal_by_url(
    browser: Any, session: Session, org: Any, make_appeal: Any
) -> None:
    other = make_appeal(building="E-XY-2")
    public_id = other.public_id
    session.commit()
    _sign_in_by_link(browser, session, org.staff["g1_leader"].id)
    browser.get(f"{browser.base_url}/console/appeals/{public_id}")
    assert "无权访问" in browser.find_element(By.TAG_NAME, "h1").text
    assert "不在您的管辖范围内" in _body(browser)


def test_a_form_with_a_forged_csrf_token_is_refused(browser: Any, session: Session, org: Any) -> None:
    _sign_in_by_link(browser, session, org.staff["g1_leader"].id)
    browser.get(f"{browser.base_url}/console/sessions")
    browser.execute_script("document.querySelector('header form input[name=csrf_token]').value = 'forged';")
    browser.find_element(By.CSS_SELECTOR, "header form button").click()  # 退出, with the forged token
    wait_for(browser, lambda d: "CSRF 校验失败" in d.find_element(By.TAG_NAME, "body").text)
    browser.get(f"{browser.base_url}/console/")
    assert "收件箱" in browser.find_element(By.TAG_NAME, "h1").text  # still signed in: nothing was done


def test_the_inbox_fits_a_360px_phone(browser: Any, session: Session, org: Any, make_appeal: Any) -> None:
    make_appeal()
    session.commit()
    _sign_in_by_link(browser, session, org.staff["g1_leader"].id)
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 360, "height": 800, "deviceScaleFactor": 1, "mobile": True}
    )
    browser.get(f"{browser.base_url}/console/")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 360  # no sideways scrolling
    search = browser.find_element(By.NAME, "q")
    assert search.is_displayed()
    assert search.find_element(By.XPATH, "..").text.startswith("搜索")
