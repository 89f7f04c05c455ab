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
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.appeal import Appeal
from services.appeals.property_ranking import compute_snapshot
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
    shots = sorted(out.glob("*.png"))
    assert len(shots) == 2 * (len(pages) + 1)
    for shot in shots:
        assert _png_width(shot) == int(shot.stem.rsplit("-", 1)[1])
