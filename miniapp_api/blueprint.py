"""The blueprint factory of the mini-program API under /api/v1 (wsgi.blueprints lists and registers them)."""

from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from miniapp_api.auth import BEARER
from miniapp_api.schemas import ErrorBody

API_PREFIX = "/api/v1"

# Declared on the app by wsgi; operations refer to it by name ("bearer").
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
