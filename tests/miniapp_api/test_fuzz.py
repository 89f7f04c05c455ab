"""Schema-based fuzzing (schemathesis, in-process on the WSGI app): no input makes this area's API answer 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from infra.web import get_db
from models.org import Staff
from models.resident import Resident
from services import booking as svc

MY_TAGS = {"auth", "notices", "appeals", "venues"}
HOURS = {str(d): [["09:00", "12:00"], ["14:00", "21:00"]] for d in range(7)}


@pytest.mark.slow
def test_fuzz_finds_no_server_errors(app, login_as, org, clock):
    with get_db(app).transaction() as s:
        svc.create_venue(s, community_id=org.community.id, name="阅览室", capacity=4, opening_hours=HOURS)
        staff = s.get(Staff, org.staff["g1_leader"].id)
        staff.unionid = "ounion-fuzz"
        r = Resident(miniapp_openid="omini-fuzz", unionid="ounion-fuzz", community_id=org.community.id,
                     grid_id=org.grids["G1"].id)  # fmt: skip
        s.add(r)
        s.flush()
        rid = r.id
    headers = login_as(rid)  # a resident who is also a grid leader: every endpoint is reachable
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if not MY_TAGS.intersection(operation.definition.raw.get("tags", [])):
            continue
        if operation.path == "/api/v1/auth/logout":
            continue  # it would end the fuzzer's own session
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def run(case: schemathesis.Case) -> None:
            response = case.call(headers=headers)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.body!r} → {response.status_code}")

        run()
    assert operations >= 15
    assert failures == []
