"""`Idempotency-Key` for POSTs that create or spend (Stripe's design).

How it works, per (resident, key):
- The claim is a row in `idempotency_record` inserted in the SAME transaction as the view's effect, before the
  view runs. UNIQUE(resident_id, key) makes it atomic: on PostgreSQL a concurrent duplicate blocks on the unique
  index until the first commits and then fails (we answer with the stored response); on SQLite BEGIN IMMEDIATE
  serialises the two. Either way only one effect is ever committed.
- When the view returns, its status and JSON body are stored on the row and committed; a replay with the same
  key returns them verbatim (header `Idempotent-Replayed: true`) without calling the view.
- Same key, different request (method, path or body) → 422 `idempotency_key_reused`.
- If the view raises (a refusal such as "slot full", or a crash), its transaction rolls back together with the
  claim, so nothing is stored and the client may retry with the same key (Stripe: results are saved only once
  execution began; a rejected request leaves nothing behind).
- A replay that arrives between the view's commit and the response being stored gets 409
  `idempotency_in_progress` ("retry shortly").

Keys are optional: a POST without the header runs normally. Records may be pruned after 24 h.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Response, make_response, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from infra import clock
from infra.http import ApiError
from infra.web import db_session
from miniapp_api.auth import current_principal
from models.miniapp import IdempotencyRecord

F = TypeVar("F", bound=Callable[..., Any])

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def request_fingerprint() -> str:
    """SHA-256 over method, path and the body (JSON canonicalised so key order and spacing do not matter)."""
    raw = request.get_data(cache=True) or b""
    body: bytes = raw
    if request.is_json and raw:
        try:
            body = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        except ValueError:
            body = raw
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.request_hash != fingerprint:
        raise ApiError(
            422,
            "idempotency_key_reused",
            "这个 Idempotency-Key 已用于另一个请求，请换一个新的",
        )
    if record.status_code is None:
        raise ApiError(409, "idempotency_in_progress", "使用这个 Idempotency-Key 的第一个请求仍在处理中，请稍后重试")
    response = make_response(record.response_body, record.status_code)
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _find(session: Session, resident_id: int, key: str) -> IdempotencyRecord | None:
    return session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.resident_id == resident_id, IdempotencyRecord.key == key)
    )


def idempotent(view: F) -> F:
    """Decorator for POST views that create or spend: honours `Idempotency-Key` (apply inside login_required)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise ApiError(422, "invalid_idempotency_key", f"{HEADER} 应为 1 到 {MAX_KEY_LENGTH} 个可打印字符")
        principal = current_principal()
        fingerprint = request_fingerprint()
        session = db_session()
        existing = _find(session, principal.resident_id, key)
        if existing is not None:
            try:
                return _replay(existing, fingerprint)
            finally:
                session.rollback()  # release the read transaction (on SQLite it holds the write lock)
        record = IdempotencyRecord(
            resident_id=principal.resident_id,
            key=key,
            method=request.method,
            path=request.path[:300],
            request_hash=fingerprint,
            created_at=clock.now(),
        )
        session.add(record)
        try:
            session.flush()  # PostgreSQL: blocks here while a concurrent duplicate is uncommitted
        except IntegrityError:
            session.rollback()
            winner = _find(session, principal.resident_id, key)
            if winner is None:
                # Not our unique: PostgreSQL waits for the other transaction's outcome before raising, so a
                # duplicate that rolled back would have let this insert succeed instead.
                raise
            try:
                return _replay(winner, fingerprint)
            finally:
                session.rollback()
        try:
            result = view(*args, **kwargs)
        except BaseException:
            session.rollback()  # the claim goes with the effect: nothing is stored, the key may be retried
            raise
        response = make_response(result)
        # The view usually committed its effect (and the claim with it); record the answer it gave.
        session.add(record)
        record.status_code = response.status_code
        record.response_body = response.get_json(silent=True)
        session.commit()
        return response

    return wrapper  # type: ignore[return-value]
