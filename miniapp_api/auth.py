"""Bearer-token authentication and role checks for the mini-program API.

Clients send `Authorization: Bearer <token>` (the token from POST /api/v1/auth/login). Roles are recomputed from
the database on every request (OWASP API1/API2: never trust an id or a role sent by the client).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import g, request

from infra import clock
from infra.http import ApiError
from infra.web import db_session
from services.organisation import auth as auth_service

F = TypeVar("F", bound=Callable[..., Any])

# The OpenAPI security requirement for authenticated operations (wsgi declares the scheme on the app).
BEARER = [{"bearer": []}]


@dataclass(frozen=True)
class Principal:
    """The caller: a resident, with the roles and the staff / partner records the data gives them."""

    resident_id: int
    roles: frozenset[str]
    staff_id: int | None
    partner_id: int | None

    def has(self, *roles: str) -> bool:
        """True if the caller holds any of `roles`."""
        return bool(self.roles.intersection(roles))


def bearer_token() -> str | None:
    """The raw token from the Authorization header, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _authenticate() -> Principal:
    token = bearer_token()
    if token is None:
        raise ApiError(401, "unauthorized", "请先登录：请求头需带 Authorization: Bearer <token>")
    session = db_session()
    row = auth_service.resolve(session, token, now=clock.now())
    if row is None:
        session.rollback()
        raise ApiError(401, "session_expired", "登录已失效，请重新登录")
    identity = auth_service.identity_for(session, row.resident_id)
    # End the read transaction now: on SQLite every transaction holds the write lock (BEGIN IMMEDIATE).
    session.rollback()
    return Principal(
        resident_id=identity.resident_id,
        roles=identity.roles,
        staff_id=identity.staff_id,
        partner_id=identity.partner_id,
    )


def current_principal() -> Principal:
    """The authenticated caller of this request (authenticates on first use; 401 if not logged in)."""
    principal: Principal | None = g.get("miniapp_principal")
    if principal is None:
        principal = _authenticate()
        g.miniapp_principal = principal
    return principal


def login_required(view: F) -> F:
    """Decorator: 401 unless the request carries a live session token."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        current_principal()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def require_roles(*roles: str) -> Callable[[F], F]:
    """Decorator: 401 if not logged in, 403 unless the caller holds at least one of `roles`."""
    unknown = set(roles) - set(auth_service.ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = current_principal()
            if not principal.has(*roles):
                raise ApiError(403, "forbidden", f"需要以下角色之一：{'、'.join(roles)}")
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator
