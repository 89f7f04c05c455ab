"""共建 pages: the 大党委's member units (成员单位) with their 兼职委员 and sign-in links, the resource list (资源清单)
and the needs list (需求清单) with suggested resources.

Views parse the form, call the same `services.cobuilding` functions as the staff API, audit and commit; the
services hold every rule (who may see, publish, post, order). A `member_unit` login sees its own resources only
(the pages marked `open_to_units`); another unit's row opened by URL is a 403 page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from flask import redirect, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from console.pages.web import PageError, bp, open_to_units, page, record, signed_in, staff
from infra import clock
from infra.web import db_session
from models.appeal import Appeal
from models.cobuilding import (
    NEED_STATES,
    RESOURCE_KINDS,
    UNIT_KINDS,
    CobuildingMember,
    CobuildingNeed,
    CobuildingOrder,
    CobuildingResource,
    CobuildingUnit,
)
from models.org import Community, Grid
from models.staff import Staff
from services.cobuilding import matching, needs, orders, resources, units, views
from services.console import signin
from services.errors import DomainError, NotFound

PAGE_SIZE = 50
UNIT_CODE = re.compile(r"[A-Za-z0-9_-]+")  # as the staff API accepts it
NEED_STATUS_LABELS = {"open": "待对接", "ordered": "已下单", "met": "已满足", "closed": "已关闭"}
T = TypeVar("T")


class FormError(Exception):
    """A form field is missing or malformed: the page is shown again with the message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# ---------------------------------------------------------------- form fields


def text(name: str, label: str, *, required: bool = True, high: int = 200) -> str:
    """A trimmed text field; missing or too long is a FormError naming the field."""
    value = request.form.get(name, "").strip()
    if required and not value:
        raise FormError(f"请填写{label}。")
    if len(value) > high:
        raise FormError(f"{label}不能超过 {high} 个字。")
    return value


def integer(name: str, label: str, *, low: int = 0, high: int = 10**9, required: bool = True) -> int | None:
    """A whole number within [low, high]."""
    raw = request.form.get(name, "").strip()
    if not raw:
        if required:
            raise FormError(f"请填写{label}。")
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise FormError(f"{label}应为 {low} 到 {high} 之间的整数。")
    return int(raw)


def day(name: str, label: str, *, required: bool = True) -> date | None:
    """A date written YYYY-MM-DD."""
    raw = request.form.get(name, "").strip()
    if not raw:
        if required:
            raise FormError(f"请填写{label}。")
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as e:
        raise FormError(f"{label}的格式应为 年-月-日（如 2026-12-01）。") from e


def moment(name: str, label: str) -> datetime:
    """A Beijing date and time (datetime-local, YYYY-MM-DDTHH:MM) as aware UTC."""
    raw = request.form.get(name, "").strip()
    if not raw:
        raise FormError(f"请填写{label}。")
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as e:
        raise FormError(f"{label}的格式应为 年-月-日 时:分。") from e
    return parsed.replace(tzinfo=clock.LOCAL_TZ).astimezone(UTC) if parsed.tzinfo is None else parsed


def local_input(value: datetime | None) -> str:
    """A time as the value of a datetime-local input (Beijing time)."""
    return value.astimezone(clock.LOCAL_TZ).strftime("%Y-%m-%dT%H:%M") if value else ""


def choice(name: str, label: str, options: tuple[str, ...] | list[str], *, required: bool = True) -> str | None:
    """One of the allowed values."""
    value = request.form.get(name, "").strip()
    if not value and not required:
        return None
    if value not in options:
        raise FormError(f"请选择{label}。")
    return value


def query_id(name: str) -> int | None:
    """An id in the query string (a bad one is a 400 page)."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise PageError(400, "筛选条件应为编号。")
    return int(raw)


def page_number() -> int:
    """The list page asked for (?page=, from 1; a bad one is a 400 page)."""
    raw = request.args.get("page", "").strip() or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= 10000:
        raise PageError(400, "页码应为正整数。")
    return int(raw)


def pager(total: int) -> dict[str, Any]:
    """The page number, its offset, and whether there are earlier and later pages."""
    number = page_number()
    return {"number": number, "offset": (number - 1) * PAGE_SIZE, "more": number * PAGE_SIZE < total}


def query_choice(name: str, options: Any) -> str:
    """A filter value from the query string, one of `options` or empty (a bad one is a 400 page)."""
    value = request.args.get(name, "").strip()
    if value and value not in options:
        raise PageError(400, "未知的筛选条件。")
    return value


def submit(session: Session, act: Callable[[], T], again: Callable[[str, int], Any]) -> T | Any:
    """Run a change; a FormError or DomainError rolls it back and shows the page again with the message."""
    try:
        return act()
    except FormError as e:
        session.rollback()
        return Again(again(e.message, 422))
    except DomainError as e:
        session.rollback()
        return Again(again(e.message, e.status))


class Again:
    """A form was refused: the page to show again instead of the redirect."""

    def __init__(self, body: Any) -> None:
        self.body = body


def finish(session: Session, body: Any) -> Any:
    """End a read request's transaction and answer."""
    session.commit()
    return body


def refuse_or_404(session: Session, model: type[Any], row_id: int, what: str) -> PageError:
    """Another's row opened by URL is a Chinese 403 page; a row that does not exist is a 404."""
    if session.get(model, row_id) is not None:
        return PageError(403, f"这{what}不在您的范围内，您不能查看或办理。")
    return PageError(404, f"没有这{what}。")


def _unit_or_refuse(session: Session, member: Staff, unit_id: int) -> CobuildingUnit:
    try:
        return units.get_unit(session, member, unit_id)
    except NotFound:
        raise refuse_or_404(session, CobuildingUnit, unit_id, "家成员单位") from None


def load_resource(session: Session, member: Staff, resource_id: int) -> CobuildingResource:
    """A resource the caller may see; another unit's is a 403 page."""
    try:
        return resources.get(session, member, resource_id)
    except NotFound:
        raise refuse_or_404(session, CobuildingResource, resource_id, "项资源") from None


def load_need(session: Session, member: Staff, need_id: int) -> CobuildingNeed:
    """A need the caller may see; another community's or grid's is a 403 page."""
    try:
        return needs.get(session, member, need_id)
    except NotFound:
        raise refuse_or_404(session, CobuildingNeed, need_id, "条需求") from None


def with_due(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Order views with `due`: the acceptance deadline of those still waiting for 接单 (for the time left)."""
    for row in rows:
        row["due"] = datetime.fromisoformat(row["accept_due_at"]) if row["status"] == "placed" else None
    return rows


def communities(session: Session) -> list[Community]:
    """Every community, for the 'communities served' choice."""
    return list(session.scalars(select(Community).order_by(Community.id)))


def _common(session: Session, member: Staff) -> dict[str, Any]:
    own = units.unit_of(session, member)
    return {
        "own_unit": own,
        "is_unit": member.role == units.UNIT_ROLE,
        "is_requester": member.role in units.REQUESTER_ROLES,
        "is_coordinator": member.community_id is not None and units.is_coordinator(member, member.community_id),
        "unit_kinds": units.KIND_LABELS,
        "resource_kinds": resources.KIND_LABELS,
        "need_status_labels": NEED_STATUS_LABELS,
        "order_status_labels": orders.STATUS_LABELS,
        "need_source_labels": needs.SOURCE_LABELS,
        "local_input": local_input,
    }


@bp.get("/cobuilding/")
@signed_in
@open_to_units
def cob_home() -> Any:
    """共建: a member unit starts on its orders, staff on the needs list."""
    db_session().rollback()
    if staff().role == units.UNIT_ROLE:
        return redirect(url_for("console_pages.cob_orders"))
    return redirect(url_for("console_pages.cob_needs"))


# ---------------------------------------------------------------- member units


def _units_page(session: Session, member: Staff, *, error: str | None = None, status: int = 200) -> Any:
    return page(
        "console/cobuilding/units.html",
        status,
        rows=views.unit_list(session, member)["items"],
        error=error,
        form=request.form if error else {},
        **_common(session, member),
    )


@bp.get("/cobuilding/units")
@signed_in
def cob_units() -> Any:
    """成员单位: the member units of my community's 大党委, and (coordinators) a form to add one."""
    session = db_session()
    return finish(session, _units_page(session, staff()))


def _unit_fields() -> dict[str, Any]:
    member_from = day("member_from", "成员期限开始日期")
    return {
        "name": text("name", "单位名称", high=100),
        "kind": choice("kind", "单位类型", UNIT_KINDS),
        "member_from": member_from,
        "member_until": day("member_until", "成员期限结束日期", required=False),
        "contact_name": text("contact_name", "联系人", required=False, high=50),
        "contact_phone": text("contact_phone", "联系电话", required=False, high=20),
        "address": text("address", "地址", required=False, high=200),
    }


@bp.post("/cobuilding/units")
@signed_in
def cob_create_unit() -> Any:
    """Add a member unit (community staff and the secretary)."""
    session, member = db_session(), staff()

    def act() -> CobuildingUnit:
        fields = _unit_fields()
        code = text("code", "单位编码", high=32)
        if not UNIT_CODE.fullmatch(code):
            raise FormError("单位编码只能由字母、数字、下划线和连字符组成。")
        return units.create_unit(session, member, community_id=units.community_of(member), code=code, **fields)

    unit = submit(session, act, lambda message, status: _units_page(session, member, error=message, status=status))
    if isinstance(unit, Again):
        return unit.body
    record("cob_unit_create", "cobuilding_unit", unit.id, name=unit.name)
    session.commit()
    return redirect(url_for("console_pages.cob_unit", unit_id=unit.id), code=303)


def _unit_page(
    session: Session, member: Staff, unit: CobuildingUnit, *, error: str | None = None, status: int = 200,
    link: str | None = None, link_for: str = "",
) -> Any:  # fmt: skip
    logins = {
        m.staff_id: session.get(Staff, m.staff_id) for m in units.members(session, unit) if m.staff_id is not None
    }
    return page(
        "console/cobuilding/unit.html",
        status,
        unit=unit,
        view=views.unit_detail(session, member, unit),
        member_rows=units.members(session, unit),
        logins=logins,
        error=error,
        link=link,
        link_for=link_for,
        form=request.form if error else {},
        **_common(session, member),
    )


@bp.get("/cobuilding/units/<int:unit_id>")
@signed_in
def cob_unit(unit_id: int) -> Any:
    """One member unit: particulars, membership period, 兼职委员 and their console logins."""
    session, member = db_session(), staff()
    return finish(session, _unit_page(session, member, _unit_or_refuse(session, member, unit_id)))


@bp.post("/cobuilding/units/<int:unit_id>")
@signed_in
def cob_update_unit(unit_id: int) -> Any:
    """Edit a member unit (type, contact, membership period)."""
    session, member = db_session(), staff()
    unit = _unit_or_refuse(session, member, unit_id)
    done = submit(
        session,
        lambda: units.update_unit(session, member, unit, **_unit_fields()),
        lambda message, status: _unit_page(session, member, unit, error=message, status=status),
    )
    if isinstance(done, Again):
        return done.body
    record("cob_unit_update", "cobuilding_unit", unit.id)
    session.commit()
    return redirect(url_for("console_pages.cob_unit", unit_id=unit.id), code=303)


@bp.post("/cobuilding/units/<int:unit_id>/members")
@signed_in
def cob_add_member(unit_id: int) -> Any:
    """Record a 兼职委员 of the unit, with a console login of its own when asked."""
    session, member = db_session(), staff()
    unit = _unit_or_refuse(session, member, unit_id)

    def act() -> CobuildingMember:
        added = units.add_member(
            session,
            member,
            unit,
            name=text("member_name", "兼职委员姓名", high=50),
            post=text("post", "职务", required=False, high=50) or "兼职委员",
            phone=text("phone", "手机号", required=False, high=20),
            serves_from=day("serves_from", "任职开始日期") or unit.member_from,
            serves_until=day("serves_until", "任职结束日期", required=False),
        )
        if request.form.get("login") == "1":
            units.create_login(session, member, added)
        return added

    added = submit(session, act, lambda m, s: _unit_page(session, member, unit, error=m, status=s))
    if isinstance(added, Again):
        return added.body
    record("cob_member_add", "cobuilding_unit", unit.id, member_id=added.id, login=added.staff_id is not None)
    session.commit()
    return redirect(url_for("console_pages.cob_unit", unit_id=unit.id), code=303)


@bp.post("/cobuilding/units/<int:unit_id>/members/<int:member_id>/login")
@signed_in
def cob_member_login(unit_id: int, member_id: int) -> Any:
    """Open a console login for a 兼职委员 who has none (the unit's own scope)."""
    session, member = db_session(), staff()
    unit = _unit_or_refuse(session, member, unit_id)
    row = units.get_member(session, member, unit, member_id)
    login = units.create_login(session, member, row)
    record("cob_member_login", "staff", login.id, unit_id=unit.id)
    session.commit()
    return redirect(url_for("console_pages.cob_unit", unit_id=unit.id), code=303)


@bp.post("/cobuilding/units/<int:unit_id>/members/<int:member_id>/link")
@signed_in
def cob_member_link(unit_id: int, member_id: int) -> Any:
    """A one-time sign-in link for a 兼职委员's login, shown once (as `hongguan staff-login` prints it)."""
    session, member = db_session(), staff()
    unit = _unit_or_refuse(session, member, unit_id)
    row = units.get_member(session, member, unit, member_id)
    if row.staff_id is None:
        raise PageError(409, "这位兼职委员还没有登录账号，请先开通。")
    token = signin.issue_link(session, row.staff_id)
    record("cob_member_link", "staff", row.staff_id, unit_id=unit.id)
    link = request.host_url.rstrip("/") + url_for("console_pages.link_page", token=token)
    body = _unit_page(session, member, unit, link=link, link_for=row.name)
    session.commit()
    return body


# ---------------------------------------------------------------- resources


def _resource_filters() -> dict[str, Any]:
    return {
        "kind": query_choice("kind", RESOURCE_KINDS) or None,
        "orderable": request.args.get("orderable") == "1",
        "unit_id": query_id("unit"),
        "q": request.args.get("q", "").strip()[:50] or None,
    }


def _resources_page(session: Session, member: Staff, *, error: str | None = None, status: int = 200) -> Any:
    filters = _resource_filters()
    offset = (page_number() - 1) * PAGE_SIZE
    listed = views.resource_list(session, member, limit=PAGE_SIZE, offset=offset, **filters)
    common = _common(session, member)
    publishers = (
        [common["own_unit"]] if common["own_unit"] else units.list_units(session, member)
    ) if (common["own_unit"] or common["is_coordinator"]) else []  # fmt: skip
    return page(
        "console/cobuilding/resources.html",
        status,
        rows=listed["items"],
        total=listed["total"],
        pages=pager(listed["total"]),
        filters=filters,
        publishers=publishers,
        unit_choices=units.list_units(session, member) if not common["is_unit"] else [],
        communities=communities(session),
        error=error,
        form=request.form if error else {},
        **common,
    )


@bp.get("/cobuilding/resources")
@signed_in
@open_to_units
def cob_resources() -> Any:
    """资源清单: filter by kind, unit and 'can be ordered now', search the text; a unit publishes here."""
    session = db_session()
    return finish(session, _resources_page(session, staff()))


def _resource_fields(session: Session) -> dict[str, Any]:
    served = [int(c) for c in request.form.getlist("community_ids") if c.isdigit()]
    return {
        "title": text("title", "资源名称", high=100),
        "description": text("description", "资源说明", required=False, high=2000),
        "capacity": integer("capacity", "数量或容量", low=1, high=100000),
        "unit_label": text("unit_label", "计量单位", required=False, high=10) or "次",
        "available_from": moment("available_from", "可用开始时间"),
        "available_until": moment("available_until", "可用结束时间"),
        "community_ids": served,
        "contact_name": text("contact_name", "联系人", required=False, high=50),
        "contact_phone": text("contact_phone", "联系电话", required=False, high=20),
    }


@bp.post("/cobuilding/resources")
@signed_in
@open_to_units
def cob_publish_resource() -> Any:
    """A unit publishes a resource (its 兼职委员: its own; a coordinator: on a unit's behalf)."""
    session, member = db_session(), staff()

    def act() -> CobuildingResource:
        own = units.unit_of(session, member)
        if own is not None:
            unit = own
        else:
            unit_id = integer("unit_id", "发布单位", low=1, high=2**31 - 1)
            unit = _unit_or_refuse(session, member, unit_id or 0)
        kind = choice("kind", "资源类型", RESOURCE_KINDS) or ""
        return resources.publish(session, member, unit, kind=kind, **_resource_fields(session))

    made = submit(session, act, lambda m, s: _resources_page(session, member, error=m, status=s))
    if isinstance(made, Again):
        return made.body
    record("cob_resource_publish", "cobuilding_resource", made.id, title=made.title)
    session.commit()
    return redirect(url_for("console_pages.cob_resource", resource_id=made.id), code=303)


def _resource_page(
    session: Session, member: Staff, resource: CobuildingResource, *, error: str | None = None, status: int = 200
) -> Any:
    common = _common(session, member)
    unit = session.get(CobuildingUnit, resource.unit_id)
    may_edit = (common["own_unit"] is not None and common["own_unit"].id == resource.unit_id) or (
        unit is not None and units.is_coordinator(member, unit.community_id)
    )
    open_needs = (
        list(
            session.scalars(
                needs.visible(session, member)
                .where(CobuildingNeed.status.in_(("open", "ordered")))
                .order_by(CobuildingNeed.id.desc())
                .limit(100)
            )
        )
        if common["is_requester"]
        else []
    )
    return page(
        "console/cobuilding/resource.html",
        status,
        resource=resource,
        view=views.resource_detail(session, member, resource),
        may_edit=may_edit,
        open_needs=open_needs,
        communities=communities(session),
        error=error,
        form=request.form if error else {},
        **common,
    )


@bp.get("/cobuilding/resources/<int:resource_id>")
@signed_in
@open_to_units
def cob_resource(resource_id: int) -> Any:
    """One resource: what is left, when, for whom; edit it (its unit) or order it in one click (staff)."""
    session, member = db_session(), staff()
    return finish(session, _resource_page(session, member, load_resource(session, member, resource_id)))


@bp.post("/cobuilding/resources/<int:resource_id>")
@signed_in
@open_to_units
def cob_update_resource(resource_id: int) -> Any:
    """Edit a resource (capacity, availability window, communities served, contact)."""
    session, member = db_session(), staff()
    resource = load_resource(session, member, resource_id)
    done = submit(
        session,
        lambda: resources.update(session, member, resource, **_resource_fields(session)),
        lambda m, s: _resource_page(session, member, load_resource(session, member, resource_id), error=m, status=s),
    )
    if isinstance(done, Again):
        return done.body
    record("cob_resource_update", "cobuilding_resource", resource.id)
    session.commit()
    return redirect(url_for("console_pages.cob_resource", resource_id=resource.id), code=303)


@bp.post("/cobuilding/resources/<int:resource_id>/withdraw")
@signed_in
@open_to_units
def cob_withdraw_resource(resource_id: int) -> Any:
    """Take a resource off the list."""
    session, member = db_session(), staff()
    resource = load_resource(session, member, resource_id)
    resources.withdraw(session, member, resource)
    record("cob_resource_withdraw", "cobuilding_resource", resource.id)
    session.commit()
    return redirect(url_for("console_pages.cob_resource", resource_id=resource.id), code=303)


# ---------------------------------------------------------------- needs


def _needs_page(session: Session, member: Staff, *, error: str | None = None, status: int = 200) -> Any:
    filters = {
        "status": query_choice("status", NEED_STATES) or None,
        "kind": query_choice("kind", RESOURCE_KINDS) or None,
        "q": request.args.get("q", "").strip()[:50] or None,
    }
    offset = (page_number() - 1) * PAGE_SIZE
    listed = views.need_list(session, member, limit=PAGE_SIZE, offset=offset, **filters)
    grids: list[Grid] = []
    if member.grid_id is None and member.community_id is not None:
        grids = list(session.scalars(select(Grid).where(Grid.community_id == member.community_id).order_by(Grid.code)))
    return page(
        "console/cobuilding/needs.html",
        status,
        rows=listed["items"],
        total=listed["total"],
        pages=pager(listed["total"]),
        filters=filters,
        grids=grids,
        grid_names={g.id: g.name for g in session.scalars(select(Grid))},
        error=error,
        form=request.form if error else {},
        **_common(session, member),
    )


@bp.get("/cobuilding/needs")
@signed_in
def cob_needs() -> Any:
    """需求清单: filter by status and kind, search the text; staff post a need here."""
    session = db_session()
    return finish(session, _needs_page(session, staff()))


def _need_fields() -> dict[str, Any]:
    return {
        "title": text("title", "需求标题", high=100),
        "description": text("description", "需求说明", required=False, high=2000),
        "kind": choice("kind", "需要的资源类型", RESOURCE_KINDS, required=False),
        "beneficiaries": integer("beneficiaries", "受益人数", high=1000000, required=False) or 0,
        "beneficiary_note": text("beneficiary_note", "受益对象", required=False, high=200),
        "wanted_by": day("wanted_by", "希望完成日期", required=False),
    }


@bp.post("/cobuilding/needs")
@signed_in
def cob_post_need() -> Any:
    """Post a need for my community or grid branch."""
    session, member = db_session(), staff()

    def act() -> CobuildingNeed:
        return needs.post(session, member, grid_id=integer("grid_id", "网格", low=1, high=2**31 - 1, required=False),
                          **_need_fields())  # fmt: skip

    need = submit(session, act, lambda m, s: _needs_page(session, member, error=m, status=s))
    if isinstance(need, Again):
        return need.body
    record("cob_need_post", "cobuilding_need", need.id, source=need.source)
    session.commit()
    return redirect(url_for("console_pages.cob_need", need_id=need.id), code=303)


@bp.post("/cobuilding/needs/from-appeal/<public_id>")
@signed_in
def cob_need_from_appeal(public_id: str) -> Any:
    """需要共建资源: raise a need from an appeal that needs outside help (its text, redacted, as the description)."""
    session, member = db_session(), staff()
    appeal = session.scalar(select(Appeal).where(Appeal.public_id == public_id[:32]))
    if appeal is None:
        raise PageError(404, "没有这件诉求。")
    try:
        fields = _need_fields()
    except FormError as e:
        raise PageError(422, e.message) from None
    need = needs.post(session, member, appeal_public_id=public_id, **fields)
    record("cob_need_post", "cobuilding_need", need.id, source=need.source, appeal=public_id)
    session.commit()
    return redirect(url_for("console_pages.cob_need", need_id=need.id), code=303)


@bp.get("/cobuilding/needs/<int:need_id>")
@signed_in
def cob_need(need_id: int) -> Any:
    """One need: its suggested resources (the shared keywords as the reason), each ordered in one click."""
    session, member = db_session(), staff()
    need = load_need(session, member, need_id)
    appeal = session.get(Appeal, need.appeal_id) if need.appeal_id else None
    placed = list(
        session.scalars(
            orders.visible(session, member).where(CobuildingOrder.need_id == need.id).order_by(CobuildingOrder.id)
        )
    )
    body = page(
        "console/cobuilding/need.html",
        need=need,
        view=needs.view(need),
        appeal=appeal,
        suggestions=matching.suggest(session, member, need.id, limit=5),
        placed=with_due([orders.view(session, member, o) for o in placed]),
        grid=session.get(Grid, need.grid_id) if need.grid_id else None,
        **_common(session, member),
    )
    return finish(session, body)
