"""Co-building in the mini-program, for grid branch secretaries and member units on the move: the resource and
needs lists, suggestions for a need, 一键下单, 接单 / decline, delivery, confirmation and evaluation.

Callers are staff (the mini-program user matched to a Staff row by unionid or openid, role `staff`); the same
services as the console decide every role and object check, so a unit's 兼职委员 sees only its own orders and
another unit's order is a 404. Contacts are masked for anyone but the unit itself and its coordinators.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from infra.http import ApiError
from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from miniapp_api import cobuilding_schemas as cs
from miniapp_api.auth import current_principal, require_roles
from miniapp_api.blueprint import api_blueprint
from miniapp_api.idempotency import idempotent
from miniapp_api.schemas import WRITE_ERRORS, responses
from models.staff import Staff
from services.cobuilding import matching, orders, views

bp = api_blueprint("miniapp_cobuilding", __name__, "cobuilding", "大党委共建: resources, needs, one-click orders")


def _staff(session: Session) -> Staff:
    staff_id = current_principal().staff_id
    staff = session.get(Staff, staff_id) if staff_id else None
    if staff is None:
        raise ApiError(403, "forbidden", "需要工作人员或成员单位兼职委员身份")
    return staff


def _read(session: Session, body: dict[str, Any]) -> dict[str, Any]:
    session.rollback()  # end the read transaction: on SQLite it holds the write lock
    return body


@bp.get("/cobuilding/resources", responses=responses(cs.ResourceList), summary="the resource list")
@require_roles("staff")
def list_resources(query: cs.ResourceQuery) -> Any:
    """Resources serving my community (a unit: its own), newest first."""
    session = db_session()
    return _read(session, views.resource_list(session, _staff(session), **query.model_dump()))


@bp.get("/cobuilding/needs", responses=responses(cs.NeedList), summary="the needs list")
@require_roles("staff")
def list_needs(query: cs.NeedQuery) -> Any:
    """Needs of my community (grid staff: their grid's and the community-wide ones)."""
    session = db_session()
    return _read(session, views.need_list(session, _staff(session), **query.model_dump()))


@bp.get(
    "/cobuilding/needs/<int:id>/suggestions",
    responses=responses(cs.SuggestionList),
    summary="resources suggested for a need",
)
@require_roles("staff")
def suggest(path: cs.IdPath, query: cs.SuggestQuery) -> Any:
    """Resources for a need, best first, with the shared keywords as the reason."""
    session = db_session()
    return _read(session, {"items": matching.suggest(session, _staff(session), path.id, limit=query.limit)})


@bp.post(
    "/cobuilding/orders",
    responses=responses(cs.OrderOut, status=201, errors=WRITE_ERRORS),
    summary="一键下单 (one-click order)",
)
@require_roles("staff")
@idempotent
def place_order(body: cs.OrderCreate) -> Any:
    """Order a resource from the list or for a need; refused beyond what is left (409 over_capacity)."""
    session = db_session()
    staff = _staff(session)
    placed = orders.place(session, staff, **body.model_dump())
    commit_and_enqueue(session)
    return orders.view(session, staff, placed.order), 201


@bp.get("/cobuilding/orders", responses=responses(cs.OrderList), summary="my orders")
@require_roles("staff")
def list_orders(query: cs.OrderQuery) -> Any:
    """Orders I may see (a unit: its own), newest first."""
    session = db_session()
    return _read(session, views.order_list(session, _staff(session), **query.model_dump()))


@bp.get("/cobuilding/orders/<int:id>", responses=responses(cs.OrderOut), summary="one order")
@require_roles("staff")
def get_order(path: cs.IdPath) -> Any:
    """One order with what I may do next."""
    session = db_session()
    staff = _staff(session)
    return _read(session, orders.view(session, staff, orders.get(session, staff, path.id)))


def _step(order_id: int, act: Any) -> Any:
    session = db_session()
    staff = _staff(session)
    order = orders.get(session, staff, order_id, for_update=True)
    act(session, staff, order)
    commit_and_enqueue(session)
    return orders.view(session, staff, order)


STEP = {"responses": responses(cs.OrderOut, errors=WRITE_ERRORS)}


@bp.post("/cobuilding/orders/<int:id>/accept", summary="接单 (the order's unit)", **STEP)
@require_roles("staff")
def accept_order(path: cs.IdPath) -> Any:
    """接单: the order's own unit accepts it."""
    return _step(path.id, orders.accept)


@bp.post("/cobuilding/orders/<int:id>/decline", summary="decline with a reason (the order's unit)", **STEP)
@require_roles("staff")
def decline_order(path: cs.IdPath, body: cs.DeclineBody) -> Any:
    """Decline with a reason (400 reason_required without one)."""
    return _step(path.id, lambda s, st, o: orders.decline(s, st, o, reason=body.reason))


@bp.post("/cobuilding/orders/<int:id>/schedule", summary="fix the delivery time (the order's unit)", **STEP)
@require_roles("staff")
def schedule_order(path: cs.IdPath, body: cs.ScheduleBody) -> Any:
    """When the unit delivers, within the resource's availability."""
    return _step(path.id, lambda s, st, o: orders.schedule(s, st, o, at=body.at))


@bp.post("/cobuilding/orders/<int:id>/deliver", summary="report delivered (the order's unit)", **STEP)
@require_roles("staff")
def deliver_order(path: cs.IdPath) -> Any:
    """The unit reports the resource delivered."""
    return _step(path.id, orders.deliver)


@bp.post("/cobuilding/orders/<int:id>/confirm", summary="confirm delivery (each side once)", **STEP)
@require_roles("staff")
def confirm_order(path: cs.IdPath) -> Any:
    """Confirm delivery; the order is confirmed once both sides have."""
    return _step(path.id, orders.confirm)


@bp.post("/cobuilding/orders/<int:id>/evaluate", summary="evaluate a confirmed order (the requester)", **STEP)
@require_roles("staff")
def evaluate_order(path: cs.IdPath, body: cs.EvaluateBody) -> Any:
    """The requester's evaluation, 1–5, with the beneficiaries reached."""
    return _step(path.id, lambda s, st, o: orders.evaluate(s, st, o, **body.model_dump()))
