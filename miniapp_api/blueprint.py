"""Blueprint factory and registration of the mini-program API under /api/v1."""

from __future__ import annotations

from flask import redirect
from flask_openapi3 import APIBlueprint, OpenAPI, Tag

from miniapp_api.auth import BEARER
from miniapp_api.schemas import ErrorBody

API_PREFIX = "/api/v1"

# Declared once on the app; operations refer to it by name ("bearer").
SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "the token returned by POST /api/v1/auth/login (opaque, expires)",
    }
}


def api_blueprint(
    name: str, import_name: str, tag: str, description: str = "", *, public: bool = False
) -> APIBlueprint:
    """An APIBlueprint under /api/v1 with one OpenAPI tag; authenticated unless `public`."""
    return APIBlueprint(
        name,
        import_name,
        url_prefix=API_PREFIX,
        abp_tags=[Tag(name=tag, description=description)],
        abp_security=[] if public else BEARER,
        abp_responses={500: ErrorBody},
    )


def declare_security(app: OpenAPI) -> None:
    """Add the bearer scheme to the app's OpenAPI document (idempotent)."""
    app.security_schemes = {**(app.security_schemes or {}), **SECURITY_SCHEMES}


def register(app: OpenAPI) -> None:
    """Register this area's blueprints (login, notices, appeals, venues) on the app."""
    from miniapp_api.routes_appeals import bp as appeals_bp
    from miniapp_api.routes_auth import bp as auth_bp
    from miniapp_api.routes_notices import bp as notices_bp
    from miniapp_api.routes_venues import bp as venues_bp

    declare_security(app)
    for bp in (auth_bp, notices_bp, appeals_bp, venues_bp):
        app.register_api(bp)
    # Swagger UI lives at /api/v1/swagger and loads its assets relative to that URL, so the slashed form is
    # redirected rather than served (served, its relative asset links would point one folder too deep).
    app.add_url_rule(f"{API_PREFIX}/swagger/", "swagger_slash", lambda: redirect(f"{API_PREFIX}/swagger", code=308))
