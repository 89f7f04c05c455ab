"""infra/web.py: reading a request body in one call, and the cookie-less session shortcut."""

from __future__ import annotations

import io

import pytest
from flask import Flask, request, session
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from infra.web import LazyCookieSessions, read_body

LIMIT = 16


def _request(body: bytes, *, length: bool = True, terminated: bool = False) -> Request:
    environ = EnvironBuilder(method="POST", data=body).get_environ()
    environ["wsgi.input"] = io.BytesIO(body)
    if not length:
        environ.pop("CONTENT_LENGTH", None)
    if terminated:
        environ["wsgi.input_terminated"] = True
    return Request(environ)


@pytest.mark.parametrize("body", [b"", b"<xml/>", b"x" * LIMIT])
def test_a_body_within_the_limit_is_read_whole(body):
    assert read_body(_request(body), LIMIT) == body


def test_a_declared_length_past_the_limit_is_refused_before_reading():
    request = _request(b"x" * (LIMIT + 1))
    with pytest.raises(RequestEntityTooLarge):
        read_body(request, LIMIT)
    assert request.environ["wsgi.input"].tell() == 0  # nothing was read


def test_without_a_length_a_terminated_input_is_read_up_to_the_limit():
    assert read_body(_request(b"chunked", length=False, terminated=True), LIMIT) == b"chunked"
    with pytest.raises(RequestEntityTooLarge):
        read_body(_request(b"x" * (LIMIT + 1), length=False, terminated=True), LIMIT)


def test_without_a_length_an_unterminated_input_is_not_read():
    # Reading it could block on a client that never closes (werkzeug's safe fallback does the same).
    assert read_body(_request(b"unbounded", length=False), LIMIT) == b""


def test_sessions_without_a_cookie_are_empty_and_with_one_are_flasks_own():
    app = Flask(__name__)
    app.secret_key = "k"
    app.session_interface = LazyCookieSessions()

    @app.get("/set")
    def set_value() -> str:
        session["n"] = 1
        return "ok"

    @app.get("/get")
    def get_value() -> str:
        return f"{session.get('n')} {'HTTP_COOKIE' in request.environ}"

    client = app.test_client()
    assert client.get("/get").get_data(as_text=True) == "None False"  # no cookie: an empty session
    client.get("/set")
    assert client.get("/get").get_data(as_text=True) == "1 True"  # a cookie round-trips as in plain Flask
