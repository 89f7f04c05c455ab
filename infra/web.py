"""Per-request resources for Flask: the DB session, Redis, and the health check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Request, Response, current_app, g, jsonify
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from werkzeug.exceptions import RequestEntityTooLarge

from infra.db import Database

DB_KEY = "hongguan.db"
REDIS_KEY = "hongguan.redis"
HEALTH_KEY = "hongguan.health"

# A health check reads the database through a read-only session and returns what /healthz reports for it
# (an object of figures, or one value such as a version).
HealthCheck = Callable[[Session], Any]


class LazyCookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, minus the work for requests that carry no session cookie.

    hongguan authenticates with tokens, not Flask's session, so no request carries the cookie; the default
    interface still builds its signer on every request and reads five cookie settings after it, about a
    tenth of the webhook's own cost (docs/benchmarks.md, Webhook). Behaviour is otherwise Flask's own."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """An empty session when there is no cookie (the signer is only needed to read one)."""
        if not app.secret_key:
            return None
        # No Cookie header at all (every webhook push, every token-authenticated call): nothing to parse.
        if "HTTP_COOKIE" not in request.environ or not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        """Nothing to write or vary on for a session nobody touched."""
        if not session and not session.modified and not session.accessed:
            return
        super().save_session(app, session, response)


def init_app(app: Flask, db: Database, redis: Redis) -> None:
    """Attach the database and Redis to `app` and close the request session at teardown."""
    app.extensions[DB_KEY] = db
    app.extensions[REDIS_KEY] = redis
    app.session_interface = LazyCookieSessions()

    @app.teardown_appcontext
    def _close_session(exc: BaseException | None) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()


def add_health_check(app: Flask, name: str, check: HealthCheck) -> None:
    """Report `check`'s result under `name` on /healthz (a layer's own figures, e.g. failed pushes)."""
    app.extensions.setdefault(HEALTH_KEY, {})[name] = check


def get_db(app: Flask | None = None) -> Database:
    """The app's Database."""
    return (app or current_app).extensions[DB_KEY]


def get_redis(app: Flask | None = None) -> Redis:
    """The app's Redis client (short timeouts; may be down)."""
    return (app or current_app).extensions[REDIS_KEY]


def read_body(request: Request, limit: int) -> bytes:
    """The request body in one read of the WSGI input; RequestEntityTooLarge (413) past `limit` bytes.

    What `request.get_data()` returns, minus its per-request wrapping of the input in a LimitedStream read in a
    Python `readinto` loop (8 µs in a tight loop, ~40 µs in a busy web worker; docs/benchmarks.md, Webhook).
    Content-Length is checked before reading; a body without one is read only where the server marks the
    input as terminated (gunicorn does, for chunked requests), like werkzeug's own fallback.
    """
    environ = request.environ
    length = request.content_length
    if length is not None and length > limit:
        raise RequestEntityTooLarge()
    stream = environ["wsgi.input"]
    if length is None:
        if not environ.get("wsgi.input_terminated"):
            return b""
        data = stream.read(limit + 1)
        if len(data) > limit:
            raise RequestEntityTooLarge()
        return data
    return stream.read(length) if length else b""


def db_session() -> Session:
    """The session of the current request or job (one per app context); the caller commits."""
    if "db_session" not in g:
        g.db_session = get_db().session()
    return g.db_session


health_bp = Blueprint("health", __name__)


@health_bp.get("/healthz")
def healthz() -> Any:
    """Database and Redis status, and the registered checks' figures: 200 when the database answers (Redis
    down only degrades), else 503."""
    report: dict[str, Any] = {}
    try:
        with get_db().engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        report["database"] = {"ok": True, "dialect": get_db().engine.dialect.name}
        checks: dict[str, HealthCheck] = current_app.extensions.get(HEALTH_KEY, {})
        if checks:
            with get_db().session(deferred=True) as session:  # reads only: never holds SQLite's write lock
                for name, check in checks.items():
                    report[name] = check(session)
                session.rollback()
    except SQLAlchemyError as e:
        report["database"] = {"ok": False, "error": type(e).__name__}
    try:
        get_redis().ping()
        report["redis"] = {"ok": True}
    except RedisError as e:
        report["redis"] = {"ok": False, "error": type(e).__name__}
    db_ok = report["database"]["ok"]
    report["status"] = "ok" if db_ok and report["redis"]["ok"] else ("degraded" if db_ok else "down")
    response = jsonify(report)
    response.status_code = 200 if db_ok else 503
    return response
