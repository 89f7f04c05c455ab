"""Hostile input on every JSON API: deep nesting and NUL characters get a clear 4xx, never a 500."""

from __future__ import annotations

import json

import pytest

from infra.http import MAX_JSON_DEPTH, json_depth_exceeds


def nested(depth: int) -> str:
    """A JSON body `{"code": [[[…]]]}` whose arrays nest `depth` deep."""
    return '{"code": ' + "[" * depth + "]" * depth + "}"


def test_depth_is_measured_outside_strings_only():
    assert not json_depth_exceeds(nested(MAX_JSON_DEPTH - 1))
    assert json_depth_exceeds(nested(MAX_JSON_DEPTH))
    assert not json_depth_exceeds(json.dumps({"text": "[" * 1000 + '\\"{' * 50}))  # brackets inside a string
    assert json.loads(json.dumps({"text": "[" * 1000}))  # and that document is valid JSON


@pytest.mark.parametrize("depth", [1000, 30_000])
def test_deep_json_on_the_unauthenticated_login_is_400(client, depth):
    response = client.post("/api/v1/auth/login", data=nested(depth), content_type="application/json")
    assert response.status_code == 400
    assert response.json["code"] == "json_too_deep"


def test_deep_json_on_the_staff_console_is_400(client, session, org):
    from console.auth import issue_staff_token

    token = issue_staff_token(session, org.staff["secretary"].id)
    session.commit()
    response = client.post(
        "/console/api/appeals/0123456789abcdef/notes",
        data='{"text": ' + "[" * 1000 + "]" * 1000 + "}",
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400
    assert response.json["code"] == "json_too_deep"


def test_nul_in_a_json_string_or_key_is_422(client):
    for body in ('{"code": "abc\\u0000def"}', '{"co\\u0000de": "abc"}'):
        response = client.post("/api/v1/auth/login", data=body, content_type="application/json")
        assert response.status_code == 422, body
        assert response.json["code"] == "nul_character"
