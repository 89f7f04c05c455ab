"""Shared pydantic schemas of the mini-program API: the error body and the standard error responses."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

# Database ids in request bodies: bounded so a fuzzed 10**30 is a 422, not an integer overflow in PostgreSQL.
DbId = Annotated[int, Field(ge=1, le=2_147_483_647)]


class ErrorBody(BaseModel):
    """Every error: a machine-readable code, a message for people, optional per-field details."""

    code: str = Field(description="machine-readable, e.g. slot_full, quota_exceeded, validation_error")
    message: str
    details: Any | None = None


class Ok(BaseModel):
    """A plain acknowledgement."""

    ok: bool = True


# Responses every authenticated operation may give; merge into each route's `responses`.
AUTH_ERRORS: dict[int, type[BaseModel]] = {401: ErrorBody, 403: ErrorBody}
OBJECT_ERRORS: dict[int, type[BaseModel]] = {**AUTH_ERRORS, 404: ErrorBody}
WRITE_ERRORS: dict[int, type[BaseModel]] = {**OBJECT_ERRORS, 400: ErrorBody, 409: ErrorBody, 429: ErrorBody}


def responses(
    ok: type[BaseModel] | None, *, status: int = 200, errors: dict[int, type[BaseModel]] | None = None
) -> dict:
    """The `responses=` mapping for a route: the success model plus the error models."""
    result: dict[Any, Any] = dict(errors if errors is not None else OBJECT_ERRORS)
    result[status] = ok
    return result
