"""Screenshots of the main console pages at 360 px and 1280 px, taken in the real browser.

`make screenshots` runs this with CONSOLE_SCREENSHOTS=docs/console to refresh the PNGs shown in the README; in the
suite they go to a temporary folder and the test checks each is a PNG of the right width.
"""

from __future__ import annotations

import base64
import os
import struct
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.appeal import Appeal
from services.appeals.property_ranking import compute_snapshot
from tests.console.pages.conftest import wait_for
from tests.console.pages.test_browser import _sign_in_by_link

pytestmark = pytest.mark.browser
WIDTHS = (360, 1280)


def _shoot(browser: Any, url: str, path: Path, width: int) -> None:
    metrics = {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": width < 600}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    browser.get(url)
    height = min(int(browser.execute_script("return document.documentElement.scrollHeight")), 3000)
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "height": max(height, 600)})
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    path.write_bytes(base64.b64decode(shot["data"]))


def _png_width(path: Path) -> int:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int(struct.unpack(">I", data[16:20])[0])


def test_screenshots_of_the_main_pages(
    browser: Any, session: Session, org: Any, wechat: Any, routed: None, tmp_path: Path
) -> None:
    out = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    wechat.say("/subscribe b-e-lz-1")
    wechat.tell("3幢楼下垃圾堆了好几天没人清运，味道很大")
    wechat.as_user("oConsoleResident000000000002").say("/subscribe b-e-lz-1")
    wechat.as_user("oConsoleResident000000000002").tell("1幢楼道里有人飞线充电给电动车充电，很危险")
    public_id = session.scalar(select(Appeal.public_id).order_by(Appeal.id))
    compute_snapshot(session)  # the public 红黑榜 shows this month's list (companies without ratings: 样本不足)
    session.commit()
    base = browser.base_url
    for width in WIDTHS:
        browser.delete_all_cookies()
        _shoot(browser, f"{base}/console/login", out / f"sign-in-{width}.png", width)
    _sign_in_by_link(browser, session, org.staff["g1_leader"].id)
    pages = {
        "inbox": "/console/",
        "appeal": f"/console/appeals/{public_id}",
        "intake": "/console/intake",
        "kpi": "/console/kpi",
        "dashboards": "/console/dashboards",
        "public-rankings": "/public/rankings",
        "sessions": "/console/sessions",
    }
    for name, path in pages.items():
        for width in WIDTHS:
            _shoot(browser, base + path, out / f"{name}-{width}.png", width)
    shots = [out / f"{name}-{width}.png" for name in ("sign-in", *pages) for width in WIDTHS]
    for shot in shots:
        assert _png_width(shot) == int(shot.stem.rsplit("-", 1)[1])


def test_screenshots_of_the_admin_pages(browser: Any, session: Session, org: Any, sandbox: Any, tmp_path: Path) -> None:
    out = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    _sign_in_by_link(browser, session, org.staff["secretary"].id)
    base = browser.base_url
    browser.get(f"{base}/console/admin/qr")
    browser.find_element(By.ID, "issue-qr").click()  # the sheet's codes, from the sandbox
    wait_for(browser, lambda d: not d.find_elements(By.ID, "issue-qr"))
    pages = {
        "admin": "/console/admin/",
        "admin-grids": "/console/admin/grids/",
        "admin-grid": f"/console/admin/grids/{org.grids['G1'].id}",
        "admin-staff": f"/console/admin/staff/{org.staff['g1_leader'].id}",
        "admin-qr": f"/console/admin/qr?estate_id={org.estates['E-XY'].id}",
    }
    for name, path in pages.items():
        for width in WIDTHS:
            _shoot(browser, base + path, out / f"{name}-{width}.png", width)


def test_screenshots_of_the_participation_pages(browser: Any, session: Session, org: Any, tmp_path: Path) -> None:
    from datetime import timedelta

    from infra import clock
    from models.council import Council, CouncilItem
    from services.participation import ballots, proposals
    from services.participation.demo import seed_participation
    from tests.services.participation.conftest import feasible_proposals, make_resident

    out = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    proposals.propose(session, make_resident(session, org, "E-LZ-4", "302"), title="4幢楼道声控灯更换",
                      description="4幢二到六楼声控灯坏了一半，晚上上楼看不清。", scope="building",
                      rough_cost_yuan=1500)  # fmt: skip
    now = clock.now()
    options = feasible_proposals(session, org, ["小区北门快递柜", "健身步道翻新"], building="E-XY-1")
    closed = ballots.open_ballot(
        session, org.staff["community_staff"], title="星苑小区十一月微实事投票", scope="estate",
        estate_id=org.estates["E-XY"].id, proposal_ids=[p.public_id for p in options],
        opens_at=now - timedelta(days=10), closes_at=now - timedelta(days=3), rule="household", max_choices=1,
    )  # fmt: skip
    for i, choice in enumerate([0, 0, 1, 0, 1]):
        voter = make_resident(session, org, "E-XY-2", room=f"{i + 1}01")
        ballots.cast(session, closed, voter, [options[choice].public_id], now=closed.opens_at + timedelta(hours=i))
    seed_participation(session, org)  # after the proposals above: it sets a support threshold for new ones
    item = session.scalar(select(CouncilItem).order_by(CouncilItem.id))
    assert item is not None
    council = session.get(Council, item.council_id)
    assert council is not None
    session.commit()
    _sign_in_by_link(browser, session, org.staff["community_staff"].id)
    pages = {
        "participation-proposals": "/console/participation/proposals?status=all",
        "participation-ballot": f"/console/participation/ballots/{closed.public_id}?recount=1",
        "participation-projects": "/console/participation/projects",
        "council": f"/console/councils/{council.public_id}",
        "council-item": f"/console/items/{item.public_id}",
    }
    for name, path in pages.items():
        for width in WIDTHS:
            _shoot(browser, browser.base_url + path, out / f"{name}-{width}.png", width)
    for name in pages:
        for width in WIDTHS:
            assert _png_width(out / f"{name}-{width}.png") == width
