"""Domain errors: raised by services, turned into 4xx responses (or chat replies) by the callers."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule refused the operation; `code` is machine-readable, the message is for people."""

    status = 400
    code = "domain_error"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details


class NotFound(DomainError):
    """The object does not exist, or the caller may not know that it does."""

    status = 404
    code = "not_found"


class Forbidden(DomainError):
    """The caller's role or ownership does not allow this."""

    status = 403
    code = "forbidden"


class Conflict(DomainError):
    """The state of the data forbids it (slot taken, wrong workflow state, stock exhausted …)."""

    status = 409
    code = "conflict"


class InvalidTransition(Conflict):
    """A workflow transition that the state machine does not allow."""

    code = "invalid_transition"


class RateLimited(DomainError):
    """Too soon: e.g. a second chase within the chase period."""

    status = 429
    code = "rate_limited"
