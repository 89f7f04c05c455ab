"""微实事 in a real browser: staff open a ballot from the page, two residents vote through the mini-program API,
time moves past the close, and the ballot page shows the counts, turnout and a matching recount."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from selenium.webdriver.common.by import By
from sqlalchemy.orm import Session

from infra import clock as project_clock
from tests.console.pages.conftest import wait_for
from tests.console.pages.test_browser import _sign_in_by_link
from tests.miniapp_api.conftest import make_login
from tests.services.participation.conftest import feasible_proposals

pytestmark = pytest.mark.browser


def _set(browser: Any, element_id: str, value: str) -> None:
    """Fill a field (datetime-local inputs take their value as typed text differently per locale)."""
    browser.execute_script("arguments[0].value = arguments[1];", browser.find_element(By.ID, element_id), value)


def test_staff_open_a_ballot_residents_vote_and_the_page_shows_the_counts_after_the_close(
    browser: Any, app: Flask, client: FlaskClient, session: Session, org: Any, clock: Any
) -> None:
    charger, handrail = feasible_proposals(session, org, ["增设充电桩", "加装楼道扶手"])
    session.commit()
    _sign_in_by_link(browser, session, org.staff["community_staff"].id)
    browser.get(f"{browser.base_url}/console/participation/ballots")
    browser.find_element(By.ID, "title").send_keys("绿洲花园微实事投票")
    for proposal in (charger, handrail):
        browser.find_element(By.CSS_SELECTOR, f"input[name='proposals'][value='{proposal.public_id}']").click()
    browser.find_element(By.CSS_SELECTOR, "input[name='scope'][value='estate']").click()
    browser.find_element(By.CSS_SELECTOR, f"#estate_id option[value='{org.estates['E-LZ'].id}']").click()
    now = project_clock.local_now()
    _set(browser, "opens_at", now.strftime("%Y-%m-%dT%H:%M"))
    _set(browser, "closes_at", (now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"))
    browser.find_element(By.CSS_SELECTOR, "input[name='rule'][value='household']").click()
    browser.find_element(By.ID, "open-ballot").click()
    status = wait_for(browser, lambda d: d.find_elements(By.ID, "ballot-status")).pop()
    assert status.text == "投票中"
    assert "投票结束后公布" in browser.find_element(By.ID, "results").text
    ballot_url = browser.current_url

    login = make_login(app)
    building = org.buildings["E-LZ-2"]
    ballot_id = ballot_url.rsplit("/", 1)[1]
    for room, choice in (("501", charger), ("502", charger)):
        headers = login(None, community_id=org.community.id, grid_id=building.grid_id, building_id=building.id,
                        room=room)  # fmt: skip
        voted = client.post(f"/api/v1/participation/ballots/{ballot_id}/vote", json={"choices": [choice.public_id]},
                            headers=headers)  # fmt: skip
        assert voted.status_code == 201, voted.json
    browser.refresh()
    assert "投票结束后公布" in wait_for(browser, lambda d: d.find_element(By.ID, "results").text)
    assert not browser.find_elements(By.CSS_SELECTOR, "td.votes")  # no counts while the ballot is open

    clock.advance(timedelta(days=2, minutes=1))
    _sign_in_by_link(browser, session, org.staff["community_staff"].id)  # the console session idled out meanwhile
    browser.get(ballot_url)
    rows = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#results tr.option"))
    counts = {
        r.find_elements(By.TAG_NAME, "td")[1].text: r.find_element(By.CSS_SELECTOR, "td.votes").text for r in rows
    }
    assert counts == {"增设充电桩": "2", "加装楼道扶手": "0"}
    assert browser.find_element(By.ID, "voters").text == "2"
    browser.find_element(By.ID, "recount-link").click()
    wait_for(
        browser, lambda d: d.find_element(By.ID, "recount-result").text == "与公布结果一致"
    )  # the new page, not the old one
