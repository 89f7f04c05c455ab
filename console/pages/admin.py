"""管理: the shared pattern of the administration pages under /console/admin/ — a list and a create/edit form
per kind of object.

Each kind is a `Resource`: a Flask-WTF form (WTForms validators check the shape of each field, with Chinese
messages), a scoped loader (an object of a community the staff member does not administer is a 403 page), and
a service that applies the domain rules and raises `DomainError`s, shown next to the field they name. A save is
one transaction with its `audit_entry` row; on any error the transaction is rolled back, so nothing is
half-saved, and the form comes back with what was typed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import abort, redirect, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from wtforms import SelectChoice
from wtforms.meta import DefaultMeta

from console.pages.web import bp, error_page, page, record, signed_in, staff
from infra.web import db_session
from models.staff import Staff
from services.errors import DomainError
from services.organisation.admin_scope import require_admin


class AdminForm(FlaskForm):
    """A console administration form: WTForms' own messages in Chinese, CSRF checked by Flask-WTF."""

    class Meta:
        """Chinese translations of WTForms' built-in messages (coercion, required, lengths)."""

        locales = ("zh",)

        def get_translations(self, form: Any) -> Any:
            """WTForms' bundled catalogue for `locales` (not Flask-Babel's: the console has no locale switch)."""
            return DefaultMeta.get_translations(self, form)  # type: ignore[arg-type]


def options(pairs: Iterable[tuple[Any, str]]) -> list[SelectChoice]:
    """Select options from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


def none_if_zero(value: int | None) -> int | None:
    """An optional select's "none" choice (0) as None."""
    return value or None


@dataclass
class Resource:
    """One kind of administered object: its form, list, scoped loader and saving service."""

    name: str  # the URL segment: /console/admin/<name>/
    title: str  # Chinese, as in the navigation: 网格
    audit_type: str  # audit_entry.object_type
    form: type[AdminForm]
    rows: Callable[[Session, Staff], list[Any]]
    columns: tuple[tuple[str, Callable[[Any], Any]], ...]
    load: Callable[[Session, Staff, int], Any]
    save: Callable[[Session, Staff, Any | None, Any], Any]
    values: Callable[[Session, Any], dict[str, Any]]
    choices: Callable[[Any, Session, Staff], None] = lambda form, session, member: None
    label: Callable[[Any], str] = lambda obj: str(getattr(obj, "name", obj.id))
    may_create: Callable[[Staff], bool] = lambda member: True
    extra: str | None = None  # a template included below the edit form
    context: Callable[[Session, Staff, Any | None, Any], dict[str, Any]] = field(
        default=lambda session, member, obj, form: {}
    )
    hint: str = ""
    section: str = "社区结构"  # the heading it is listed under on the index (SECTIONS)
    delete: Callable[[Session, Staff, Any], None] | None = None  # remove the object (rows that are only settings)
    read_only: Callable[[Staff], bool] = lambda member: False  # shown, but this role cannot change it


RESOURCES: dict[str, Resource] = {}
SECTIONS = ("社区结构", "诉求办理", "服务与积分")


def register(resource: Resource) -> Resource:
    """Add a kind of object to the administration pages (in the order of the index)."""
    RESOURCES[resource.name] = resource
    return resource


def _resource(name: str) -> Resource:
    resource = RESOURCES.get(name)
    if resource is None:
        abort(404)
    require_admin(staff())
    return resource


@bp.get("/admin/")
@signed_in
def admin_index() -> Any:
    """The administration index: every kind of object this role administers."""
    require_admin(staff())
    sections = [(title, [r for r in RESOURCES.values() if r.section == title]) for title in SECTIONS]
    body = page("console/admin_index.html", sections=[(title, rows) for title, rows in sections if rows])
    db_session().commit()
    return body


@bp.get("/admin/<name>/")
@signed_in
def admin_list(name: str) -> Any:
    """The objects of one kind in the communities this staff member administers."""
    resource = _resource(name)
    session = db_session()
    rows = resource.rows(session, staff())
    body = page("console/admin_list.html", resource=resource, rows=rows, may_create=resource.may_create(staff()))
    session.commit()
    return body


def _render(resource: Resource, obj: Any | None, form: Any, status: int = 200, **extra: Any) -> Any:
    session, member = db_session(), staff()
    context = resource.context(session, member, obj, form)
    return page("console/admin_form.html", status, resource=resource, obj=obj, form=form,
                read_only=resource.read_only(member), **context, **extra)  # fmt: skip


def _form(resource: Resource, obj: Any | None) -> Any:
    session, member = db_session(), staff()
    if request.method == "POST":
        form = resource.form()
    else:
        form = resource.form(data=resource.values(session, obj) if obj is not None else None)
    resource.choices(form, session, member)
    return form


def _submit(resource: Resource, obj: Any | None) -> Any:
    """Validate the posted form, save it through the service in one transaction, audit it, or show the errors."""
    session, member = db_session(), staff()
    form = _form(resource, obj)
    if not form.validate():
        body = _render(resource, obj, form, 422)
        session.rollback()
        return body
    before = resource.values(session, obj) if obj is not None else {}
    try:
        saved = resource.save(session, member, obj, form)
    except DomainError as e:
        session.rollback()
        target = getattr(e, "field", None)
        if target and target in form:
            form[target].errors = [*form[target].errors, e.message]
            body = _render(resource, obj, form, e.status)
        else:
            body = _render(resource, obj, form, e.status, form_error=e.message)
        session.rollback()
        return body
    after = resource.values(session, saved)
    changed = sorted(k for k in after if before.get(k) != after[k])
    record("admin_create" if obj is None else "admin_update", resource.audit_type, saved.id, fields=changed)
    session.commit()
    return redirect(url_for("console_pages.admin_edit", name=resource.name, object_id=saved.id, saved=1), code=303)


@bp.route("/admin/<name>/new", methods=["GET", "POST"])
@signed_in
def admin_new(name: str) -> Any:
    """The empty form of a new object, and its submission."""
    resource = _resource(name)
    if not resource.may_create(staff()) or resource.read_only(staff()):
        return error_page(403, f"您的角色不能新建{resource.title}。")
    if request.method == "POST":
        return _submit(resource, None)
    body = _render(resource, None, _form(resource, None))
    db_session().commit()
    return body


@bp.post("/admin/<name>/<int:object_id>/delete")
@signed_in
def admin_delete(name: str, object_id: int) -> Any:
    """Delete an object of a kind that allows it (a calendar day, a duty shift …), audited."""
    resource = _resource(name)
    if resource.delete is None:
        abort(405)
    session, member = db_session(), staff()
    obj = resource.load(session, member, object_id)
    label = resource.label(obj)
    resource.delete(session, member, obj)
    record("admin_delete", resource.audit_type, object_id, label=label)
    session.commit()
    return redirect(url_for("console_pages.admin_list", name=resource.name), code=303)


@bp.route("/admin/<name>/<int:object_id>", methods=["GET", "POST"])
@signed_in
def admin_edit(name: str, object_id: int) -> Any:
    """An object's edit form (only within the staff member's communities), and its submission."""
    resource = _resource(name)
    obj = resource.load(db_session(), staff(), object_id)
    if request.method == "POST":
        return _submit(resource, obj)
    body = _render(resource, obj, _form(resource, obj), saved=request.args.get("saved") == "1")
    db_session().commit()
    return body
