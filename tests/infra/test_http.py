"""Hostile input on every JSON API: deep nesting and NUL characters get a clear 4xx, never a 500."""

from __future__ import annotations

import json

import pytest

from infra.http import MAX_JSON_DEPTH, json_has_nul, json_too_deep


def nested(depth: int) -> str:
    """A JSON body `{"code": [[[…]]]}` whose arrays nest `depth` deep."""
    return '{"code": ' + "[" * depth + "]" * depth + "}"


def test_documents_are_judged_by_their_nesting_and_their_text():
    assert not json_too_deep(json.loads(nested(MAX_JSON_DEPTH - 1)))  # the object plus 31 arrays
    assert json_too_deep(json.loads(nested(MAX_JSON_DEPTH)))
    assert not json_too_deep({"text": "[" * 1000})  # brackets inside a string are text
    assert json_has_nul({"a": [{"b": "x\u0000"}]})
    assert json_has_nul({"a\u0000": 1})
    assert not json_has_nul(json.loads('{"a": "\\\\u0000"}'))  # an escaped backslash, then "u0000"


def test_unclosed_deep_json_is_400_not_500(client):
    response = client.post("/api/v1/auth/login", data='{"code": ' + "[" * 5000, content_type="application/json")
    assert response.status_code == 400


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
