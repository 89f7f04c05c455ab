"""Screenshots of the volunteer, call-up and party pages at 360 px and 1280 px (`make screenshots` writes them to
docs/console; in the suite they go to a temporary folder and each is checked to be a PNG of the right width)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Resident
from models.callup import Callup
from services.volunteering import applications, callups
from services.volunteering.demo import seed_volunteering
from tests.console.pages.test_browser import _sign_in_by_link
from tests.console.pages.test_screenshots import WIDTHS, _png_width, _shoot
from tests.console.pages.test_volunteers import person

pytestmark = pytest.mark.browser


def test_screenshots_of_the_volunteer_and_party_pages(
    browser: Any, session: Session, org: Any, clock: Any, tmp_path: Path
) -> None:
    out = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    seed_volunteering(session, org)
    applications.apply(session, person(session, org, "陈小明").id, skills=["急救", "摄影"], availability="周末")
    callup = session.scalar(select(Callup))
    assert callup is not None
    first = callups.shifts_of(session, callup.id)[0]
    for volunteer in session.scalars(select(Resident).where(Resident.is_volunteer.is_(True))):
        callups.sign_up(session, first.id, volunteer.id)
    session.commit()
    _sign_in_by_link(browser, session, org.staff["community_staff"].id)
    pages = {
        "volunteers": "/console/volunteers",
        "teams": "/console/volunteers/teams",
        "callup-compose": "/console/callups/new",
        "callup": f"/console/callups/{callup.id}",
        "party": "/console/party",
        "party-action": "/console/party/action",
    }
    for name, path in pages.items():
        for width in WIDTHS:
            _shoot(browser, browser.base_url + path, out / f"{name}-{width}.png", width)
    for name in pages:
        for width in WIDTHS:
            assert _png_width(out / f"{name}-{width}.png") == width
