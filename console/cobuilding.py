"""Staff API for co-building under /console/api/cobuilding: the 大党委's member units, the resource, needs and
project lists, one-click orders with 接单, suggestions for a need, and the monthly figures.

Same bearer authentication as the appeals API (console.auth). A `member_unit` login (a unit's 兼职委员) sees its
own unit, resources, orders, projects and evaluations only; another unit's order is a 404. The services enforce
every role and object check; these handlers parse, call one service, commit and answer.
"""

from __future__ import annotations

from typing import Any

from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy.orm import Session

from console.auth import STAFF_BEARER, current_staff
from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from miniapp_api import cobuilding_schemas as cs
from miniapp_api.schemas import ErrorBody
from models.cobuilding import CobuildingOrder, CobuildingUnit
from models.staff import Staff
from services.cobuilding import figures, matching, needs, orders, projects, resources, units, views
from services.errors import NotFound

bp = APIBlueprint(
    "console_cobuilding",
    __name__,
    url_prefix="/console/api/cobuilding",
    abp_tags=[Tag(name="console-cobuilding", description="staff console: 大党委 co-building lists and orders")],
    abp_security=STAFF_BEARER,
)
ERRORS = {400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody}


def _answer(session: Session, body: dict[str, Any], status: int = 200) -> tuple[dict[str, Any], int]:
    commit_and_enqueue(session)
    return body, status


def _read(session: Session, body: dict[str, Any]) -> dict[str, Any]:
    session.commit()  # ends the read transaction (SQLite holds the write lock) and keeps last_used_at
    return body


# ---------------------------------------------------------------- units


@bp.get("/units", responses={200: cs.UnitList, **ERRORS})
def list_units() -> dict[str, Any]:
    """The member units of my community's 大党委 (a unit: itself)."""
    staff, session = current_staff(), db_session()
    return _read(session, views.unit_list(session, staff))


@bp.post("/units", responses={201: cs.UnitOut, **ERRORS})
def create_unit(body: cs.UnitCreate) -> tuple[dict[str, Any], int]:
    """Add a member unit to my community's 大党委 (community staff and secretary)."""
    staff, session = current_staff(), db_session()
    unit = units.create_unit(session, staff, community_id=units.community_of(staff), **body.model_dump())
    return _answer(session, views.unit_detail(session, staff, unit), 201)


@bp.get("/units/<int:id>", responses={200: cs.UnitOut, **ERRORS})
def get_unit(path: cs.IdPath) -> dict[str, Any]:
    """One unit with its 兼职委员 (contacts masked unless it is mine or I coordinate it)."""
    staff, session = current_staff(), db_session()
    return _read(session, views.unit_detail(session, staff, units.get_unit(session, staff, path.id)))


@bp.put("/units/<int:id>", responses={200: cs.UnitOut, **ERRORS})
def update_unit(path: cs.IdPath, body: cs.UnitUpdate) -> tuple[dict[str, Any], int]:
    """Change a unit's particulars or membership period (community staff and secretary)."""
    staff, session = current_staff(), db_session()
    unit = units.update_unit(session, staff, units.get_unit(session, staff, path.id), **body.model_dump())
    return _answer(session, views.unit_detail(session, staff, unit))


@bp.post("/units/<int:id>/members", responses={201: cs.UnitOut, **ERRORS})
def add_member(path: cs.IdPath, body: cs.MemberCreate) -> tuple[dict[str, Any], int]:
    """Record a 兼职委员 of the unit, optionally with the member_unit login that acts for it."""
    staff, session = current_staff(), db_session()
    unit = units.get_unit(session, staff, path.id)
    units.add_member(session, staff, unit, **body.model_dump())
    return _answer(session, views.unit_detail(session, staff, unit), 201)


# ---------------------------------------------------------------- resources


@bp.get("/resources", responses={200: cs.ResourceList, **ERRORS})
def list_resources(query: cs.ResourceQuery) -> dict[str, Any]:
    """The resource list: a unit its own; staff those serving their community."""
    staff, session = current_staff(), db_session()
    return _read(session, views.resource_list(session, staff, **query.model_dump()))


def _unit_for_publishing(session: Session, staff: Staff, unit_id: int | None) -> CobuildingUnit:
    own = units.unit_of(session, staff)
    if own is not None and unit_id in (None, own.id):
        return own
    if unit_id is None:
        raise NotFound("请指明发布资源的成员单位")
    return units.get_unit(session, staff, unit_id)


@bp.post("/resources", responses={201: cs.ResourceOut, **ERRORS})
def publish_resource(body: cs.ResourceCreate) -> tuple[dict[str, Any], int]:
    """Publish a resource (a unit's login: its own; community staff: on a unit's behalf)."""
    staff, session = current_staff(), db_session()
    unit = _unit_for_publishing(session, staff, body.unit_id)
    resource = resources.publish(session, staff, unit, **body.model_dump(exclude={"unit_id"}))
    return _answer(session, views.resource_detail(session, staff, resource), 201)


@bp.get("/resources/<int:id>", responses={200: cs.ResourceOut, **ERRORS})
def get_resource(path: cs.IdPath) -> dict[str, Any]:
    """One resource."""
    staff, session = current_staff(), db_session()
    return _read(session, views.resource_detail(session, staff, resources.get(session, staff, path.id)))


@bp.put("/resources/<int:id>", responses={200: cs.ResourceOut, **ERRORS})
def update_resource(path: cs.IdPath, body: cs.ResourceUpdate) -> tuple[dict[str, Any], int]:
    """Edit a resource (its unit or a coordinator); refused below the quantity already ordered."""
    staff, session = current_staff(), db_session()
    resource = resources.update(session, staff, resources.get(session, staff, path.id), **body.model_dump())
    return _answer(session, views.resource_detail(session, staff, resource))


@bp.post("/resources/<int:id>/withdraw", responses={200: cs.ResourceOut, **ERRORS})
def withdraw_resource(path: cs.IdPath) -> tuple[dict[str, Any], int]:
    """Take a resource off the list."""
    staff, session = current_staff(), db_session()
    resource = resources.get(session, staff, path.id)
    resources.withdraw(session, staff, resource)
    return _answer(session, views.resource_detail(session, staff, resource))


# ---------------------------------------------------------------- needs


@bp.get("/needs", responses={200: cs.NeedList, **ERRORS})
def list_needs(query: cs.NeedQuery) -> dict[str, Any]:
    """The needs list of my community (grid staff: their grid's and the community-wide ones)."""
    staff, session = current_staff(), db_session()
    return _read(session, views.need_list(session, staff, **query.model_dump()))


@bp.post("/needs", responses={201: cs.NeedOut, **ERRORS})
def post_need(body: cs.NeedCreate) -> tuple[dict[str, Any], int]:
    """Post a need: typed in, raised from an appeal, or from a deliberation item."""
    staff, session = current_staff(), db_session()
    need = needs.post(session, staff, **body.model_dump())
    return _answer(session, needs.view(need), 201)


@bp.get("/needs/<int:id>/suggestions", responses={200: cs.SuggestionList, **ERRORS})
def suggest(path: cs.IdPath, query: cs.SuggestQuery) -> dict[str, Any]:
    """Resources suggested for a need, best first, with the shared keywords as the reason."""
    staff, session = current_staff(), db_session()
    return _read(session, {"items": matching.suggest(session, staff, path.id, limit=query.limit)})


# ---------------------------------------------------------------- orders


@bp.post("/orders", responses={201: cs.OrderOut, **ERRORS})
def place_order(body: cs.OrderCreate) -> tuple[dict[str, Any], int]:
    """一键下单 from the resource list or for a need; refused beyond the remaining capacity."""
    staff, session = current_staff(), db_session()
    placed = orders.place(session, staff, **body.model_dump())
    return _answer(session, orders.view(session, staff, placed.order), 201)


@bp.get("/orders", responses={200: cs.OrderList, **ERRORS})
def list_orders(query: cs.OrderQuery) -> dict[str, Any]:
    """Orders I may see (a unit: its own), newest first."""
    staff, session = current_staff(), db_session()
    return _read(session, views.order_list(session, staff, **query.model_dump()))


@bp.get("/orders/<int:id>", responses={200: cs.OrderOut, **ERRORS})
def get_order(path: cs.IdPath) -> dict[str, Any]:
    """One order with what I may do next."""
    staff, session = current_staff(), db_session()
    return _read(session, orders.view(session, staff, orders.get(session, staff, path.id)))


def _step(order_id: int, act: Any) -> tuple[dict[str, Any], int]:
    staff, session = current_staff(), db_session()
    order: CobuildingOrder = orders.get(session, staff, order_id, for_update=True)
    act(session, staff, order)
    return _answer(session, orders.view(session, staff, order))


@bp.post("/orders/<int:id>/accept", responses={200: cs.OrderOut, **ERRORS})
def accept_order(path: cs.IdPath) -> tuple[dict[str, Any], int]:
    """接单 (the order's own unit)."""
    return _step(path.id, orders.accept)


@bp.post("/orders/<int:id>/decline", responses={200: cs.OrderOut, **ERRORS})
def decline_order(path: cs.IdPath, body: cs.DeclineBody) -> tuple[dict[str, Any], int]:
    """Decline with a reason (refused without one); the capacity is given back."""
    return _step(path.id, lambda s, st, o: orders.decline(s, st, o, reason=body.reason))


@bp.post("/orders/<int:id>/cancel", responses={200: cs.OrderOut, **ERRORS})
def cancel_order(path: cs.IdPath) -> tuple[dict[str, Any], int]:
    """Withdraw an order not yet scheduled (the requester)."""
    return _step(path.id, orders.cancel)


@bp.post("/orders/<int:id>/schedule", responses={200: cs.OrderOut, **ERRORS})
def schedule_order(path: cs.IdPath, body: cs.ScheduleBody) -> tuple[dict[str, Any], int]:
    """Fix when the unit delivers."""
    return _step(path.id, lambda s, st, o: orders.schedule(s, st, o, at=body.at))


@bp.post("/orders/<int:id>/deliver", responses={200: cs.OrderOut, **ERRORS})
def deliver_order(path: cs.IdPath) -> tuple[dict[str, Any], int]:
    """Report the resource delivered."""
    return _step(path.id, orders.deliver)


@bp.post("/orders/<int:id>/confirm", responses={200: cs.OrderOut, **ERRORS})
def confirm_order(path: cs.IdPath) -> tuple[dict[str, Any], int]:
    """Confirm delivery (each side once; confirmed when both have)."""
    return _step(path.id, orders.confirm)


@bp.post("/orders/<int:id>/evaluate", responses={200: cs.OrderOut, **ERRORS})
def evaluate_order(path: cs.IdPath, body: cs.EvaluateBody) -> tuple[dict[str, Any], int]:
    """The requester's evaluation (1–5) of a confirmed order."""
    return _step(path.id, lambda s, st, o: orders.evaluate(s, st, o, **body.model_dump()))


# ---------------------------------------------------------------- projects and figures


@bp.get("/projects", responses={200: cs.ProjectList, **ERRORS})
def list_projects(query: cs.PageOnly) -> dict[str, Any]:
    """Projects of my community (a unit: those it takes part in)."""
    staff, session = current_staff(), db_session()
    return _read(session, views.project_list(session, staff, limit=query.limit, offset=query.offset))


@bp.post("/projects", responses={201: cs.ProjectOut, **ERRORS})
def create_project(body: cs.ProjectCreate) -> tuple[dict[str, Any], int]:
    """Start a project pairing needs with resources and units."""
    staff, session = current_staff(), db_session()
    data = body.model_dump(exclude={"links"})
    links = [(x.unit_id, x.need_id, x.resource_id) for x in body.links]
    project = projects.create(session, staff, links=links, **data)
    return _answer(session, projects.view(session, project), 201)


@bp.post("/projects/<int:id>/progress", responses={200: cs.ProjectOut, **ERRORS})
def report_progress(path: cs.IdPath, body: cs.ProgressBody) -> tuple[dict[str, Any], int]:
    """A progress update (coordinators and the units taking part)."""
    staff, session = current_staff(), db_session()
    project = projects.get(session, staff, path.id)
    projects.report_progress(session, staff, project, **body.model_dump())
    return _answer(session, projects.view(session, project))


@bp.post("/projects/<int:id>/close", responses={200: cs.ProjectOut, **ERRORS})
def close_project(path: cs.IdPath, body: cs.CloseProjectBody) -> tuple[dict[str, Any], int]:
    """结项 with the result and photos."""
    staff, session = current_staff(), db_session()
    project = projects.get(session, staff, path.id)
    projects.close(session, staff, project, **body.model_dump())
    return _answer(session, projects.view(session, project))


@bp.get("/figures", responses={200: cs.FiguresOut, **ERRORS})
def month_figures(query: cs.FiguresQuery) -> dict[str, Any]:
    """A month's co-building figures per unit and the community's total (a unit: its own row)."""
    staff, session = current_staff(), db_session()
    return _read(session, figures.figures_for(session, staff, query.month, community_id=query.community_id))
