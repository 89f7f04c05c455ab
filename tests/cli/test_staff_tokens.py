"""`hongguan staff-token`: issue with a lifetime, revoke all of a member's tokens or one; the API obeys."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from cli import main


def _invoke(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(main, ["staff-token", *args])


def _me(client: FlaskClient, token: str) -> int:
    return client.get("/console/api/me", headers={"Authorization": f"Bearer {token}"}).status_code


def test_issue_with_ttl_expires_and_revoke_ends_every_token(app: Flask, org: Any, client: FlaskClient, clock) -> None:
    staff_id = org.staff["g1_worker"].id
    result = _invoke(app, str(staff_id), "--ttl", "3600")
    assert result.exit_code == 0, result.output
    short = result.stdout.strip()
    assert short.startswith("hgs_")
    assert "expires 2026-11-20 03:00 UTC" in result.stderr
    default = _invoke(app, str(staff_id)).stdout.strip()  # HONGGUAN_STAFF_TOKEN_TTL: 30 days
    assert _me(client, short) == 200
    clock.advance(timedelta(seconds=3601))
    response = client.get("/console/api/me", headers={"Authorization": f"Bearer {short}"})
    assert (response.status_code, response.json["code"]) == (401, "invalid_token")
    assert _me(client, default) == 200
    result = _invoke(app, "revoke", str(staff_id))
    assert result.exit_code == 0, result.output
    assert "revoked 1 token(s)" in result.stdout  # the expired one is not live any more
    assert _me(client, default) == 401


def test_revoke_one_leaked_token_leaves_the_others(app: Flask, org: Any, client: FlaskClient, clock) -> None:
    staff_id = org.staff["secretary"].id
    leaked = _invoke(app, str(staff_id)).stdout.strip()
    other = _invoke(app, str(staff_id)).stdout.strip()
    result = _invoke(app, "revoke", "--token", leaked)
    assert result.exit_code == 0, result.output
    assert _me(client, leaked) == 401
    assert _me(client, other) == 200
    again = _invoke(app, "revoke", "--token", leaked)
    assert again.exit_code != 0
    assert "no live token matches" in again.output


def test_refusals_are_clear(app: Flask, org: Any, clock) -> None:
    assert "no active staff member" in _invoke(app, "999999").output
    assert _invoke(app, str(org.staff["secretary"].id), "--ttl", "0").exit_code != 0
    assert "either STAFF_ID or --token" in _invoke(app, "revoke").output
