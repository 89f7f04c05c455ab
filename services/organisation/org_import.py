"""Import the community's structure from CSV: communities, grids, property companies, estates,
buildings, departments, staff and QR scenes. Idempotent upserts by natural key; every bad row is reported
with its line number.

The whole file is validated before anything is written: a file with any bad row changes nothing (the caller
rolls back on OrgImportError). Files are UTF-8 (a BOM from Excel is accepted) with a header row.

Columns per kind (required first, optional in brackets); the key is `code` unless stated:
  communities          code, name [, street]
  grids                code, name, community_code [, boundary]
                       boundary = GeoJSON Polygon/MultiPolygon or WKT, lng/lat order
  property_companies   code, name
  estates              code, name, community_code [, property_company_code]
  buildings            estate_code, name, grid_code                      key: (estate, name)
  departments          code, name [, kind]
  staff                name, role [, community_code, grid_code, department_code, property_company_code,
                       openid, phone, active]          key: openid when given, else (name, role, scope)
  qr_scenes            scene, community_code [, grid_code, estate_code, building, label]     key: scene
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shapely import wkt
from shapely.errors import ShapelyError
from shapely.geometry import mapping, shape
from sqlalchemy import select
from sqlalchemy.orm import Session
from tqdm import tqdm

from models.org import Building, Community, Department, Estate, Grid, PropertyCompany, QRScene
from models.staff import STAFF_ROLES, Staff
from services.errors import DomainError

KINDS = (
    "communities", "grids", "property_companies", "estates", "buildings", "departments", "staff", "qr_scenes",
)  # fmt: skip
DEPARTMENT_KINDS = ("government", "community", "enterprise", "other")
# Bad lines listed in one report; past this, the rest are counted (a wrong file should not print 10 000 lines).
MAX_REPORTED_ERRORS = 50


class OrgImportError(DomainError):
    """The file cannot be imported; the message lists every bad line, `details` has them as {line, message}."""

    code = "import_error"


class RowError(ValueError):
    """A problem with one row (turned into a line-numbered error)."""


@dataclass
class ImportReport:
    """What an import did."""

    kind: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    bad_rows: int = 0

    def add_error(self, line: int, message: str) -> None:
        """Count a bad row; keep its line and message while under MAX_REPORTED_ERRORS."""
        self.bad_rows += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append({"line": line, "message": message})

    def error_text(self) -> str:
        """Every reported bad line, one per line, and how many more were not listed."""
        lines = [f"{self.kind}: {self.bad_rows} bad line(s), nothing was imported:"]
        lines += [f"  line {e['line']}: {e['message']}" for e in self.errors]
        if self.bad_rows > len(self.errors):
            lines.append(f"  … and {self.bad_rows - len(self.errors)} more bad line(s) not listed")
        return "\n".join(lines)

    def summary(self) -> str:
        """One line for the CLI."""
        return (
            f"{self.kind}: {self.rows} rows, {self.created} created, {self.updated} updated, {self.unchanged} unchanged"
        )


# ----------------------------------------------------------------------------------------------- helpers


def _get(row: dict[str, str], name: str, *, required: bool = False, max_len: int | None = None) -> str:
    value = (row.get(name) or "").strip()
    if required and not value:
        raise RowError(f"column {name!r} is required")
    if max_len is not None and len(value) > max_len:
        raise RowError(f"column {name!r} is longer than {max_len} characters")
    return value


def _lookup(session: Session, model: Any, code: str, what: str, cache: dict[tuple[Any, str], Any]) -> Any:
    key = (model, code)
    if key not in cache:
        cache[key] = session.scalar(select(model).where(model.code == code))
    if cache[key] is None:
        raise RowError(f"unknown {what} {code!r}")
    return cache[key]


def _boundary(raw: str) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        geometry = shape(json.loads(raw)) if raw.lstrip().startswith("{") else wkt.loads(raw)
    except (ValueError, TypeError, KeyError, AttributeError, ShapelyError) as e:
        raise RowError(f"boundary is neither GeoJSON nor WKT: {e}") from e
    if geometry.geom_type not in {"Polygon", "MultiPolygon"}:
        raise RowError(f"boundary must be a Polygon or MultiPolygon, not {geometry.geom_type}")
    if not geometry.is_valid:
        raise RowError("boundary polygon is invalid (self-intersecting or unclosed)")
    minx, miny, maxx, maxy = geometry.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise RowError("boundary coordinates must be lng, lat in degrees")
    return json.loads(json.dumps(mapping(geometry)))  # tuples → lists, JSON-clean


def _apply(obj: Any, values: dict[str, Any]) -> bool:
    """Set changed attributes; True when anything changed."""
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


class _Upserter:
    """Finds-or-creates one row per CSV line and counts what happened."""

    def __init__(self, session: Session, report: ImportReport) -> None:
        self.session = session
        self.report = report
        self.cache: dict[tuple[Any, str], Any] = {}

    def upsert(self, model: Any, existing: Any, values: dict[str, Any]) -> Any:
        if existing is None:
            obj = model(**values)
            self.session.add(obj)
            self.report.created += 1
        else:
            obj = existing
            if _apply(obj, values):
                self.report.updated += 1
            else:
                self.report.unchanged += 1
        self.session.flush()
        return obj

    def by_code(self, model: Any, code: str) -> Any:
        return self.session.scalar(select(model).where(model.code == code))

    def ref(self, model: Any, code: str, what: str) -> Any:
        return _lookup(self.session, model, code, what, self.cache)

    def opt_ref(self, model: Any, code: str, what: str) -> Any:
        return self.ref(model, code, what) if code else None


# ----------------------------------------------------------------------------------------------- per kind


def _communities(u: _Upserter, row: dict[str, str]) -> None:
    code = _get(row, "code", required=True, max_len=32)
    values = {
        "code": code,
        "name": _get(row, "name", required=True, max_len=100),
        "street": _get(row, "street", max_len=100),
    }
    u.upsert(Community, u.by_code(Community, code), values)


def _grids(u: _Upserter, row: dict[str, str]) -> None:
    code = _get(row, "code", required=True, max_len=32)
    community = u.ref(Community, _get(row, "community_code", required=True), "community")
    values = {
        "code": code,
        "name": _get(row, "name", required=True, max_len=100),
        "community_id": community.id,
        "boundary": _boundary(_get(row, "boundary")),
    }
    u.upsert(Grid, u.by_code(Grid, code), values)


def _property_companies(u: _Upserter, row: dict[str, str]) -> None:
    code = _get(row, "code", required=True, max_len=32)
    values = {"code": code, "name": _get(row, "name", required=True, max_len=100)}
    u.upsert(PropertyCompany, u.by_code(PropertyCompany, code), values)


def _estates(u: _Upserter, row: dict[str, str]) -> None:
    code = _get(row, "code", required=True, max_len=32)
    community = u.ref(Community, _get(row, "community_code", required=True), "community")
    company = u.opt_ref(PropertyCompany, _get(row, "property_company_code"), "property company")
    values = {
        "code": code,
        "name": _get(row, "name", required=True, max_len=100),
        "community_id": community.id,
        "property_company_id": company.id if company else None,
    }
    u.upsert(Estate, u.by_code(Estate, code), values)


def _buildings(u: _Upserter, row: dict[str, str]) -> None:
    estate = u.ref(Estate, _get(row, "estate_code", required=True), "estate")
    grid = u.ref(Grid, _get(row, "grid_code", required=True), "grid")
    if grid.community_id != estate.community_id:
        raise RowError(f"grid {grid.code!r} and estate {estate.code!r} belong to different communities")
    name = _get(row, "name", required=True, max_len=50)
    existing = u.session.scalar(select(Building).where(Building.estate_id == estate.id, Building.name == name))
    u.upsert(Building, existing, {"estate_id": estate.id, "name": name, "grid_id": grid.id})


def _departments(u: _Upserter, row: dict[str, str]) -> None:
    code = _get(row, "code", required=True, max_len=32)
    kind = _get(row, "kind") or "government"
    if kind not in DEPARTMENT_KINDS:
        raise RowError(f"kind must be one of {', '.join(DEPARTMENT_KINDS)}")
    values = {"code": code, "name": _get(row, "name", required=True, max_len=100), "kind": kind}
    u.upsert(Department, u.by_code(Department, code), values)


def _staff(u: _Upserter, row: dict[str, str]) -> None:
    role = _get(row, "role", required=True)
    if role not in STAFF_ROLES:
        raise RowError(f"role must be one of {', '.join(STAFF_ROLES)}")
    community = u.opt_ref(Community, _get(row, "community_code"), "community")
    grid = u.opt_ref(Grid, _get(row, "grid_code"), "grid")
    department = u.opt_ref(Department, _get(row, "department_code"), "department")
    company = u.opt_ref(PropertyCompany, _get(row, "property_company_code"), "property company")
    if role in {"grid_worker", "grid_leader"} and grid is None:
        raise RowError(f"a {role} needs grid_code")
    if role == "department_staff" and department is None:
        raise RowError("a department_staff needs department_code")
    if role == "property_staff" and company is None:
        raise RowError("a property_staff needs property_company_code")
    active_raw = _get(row, "active").lower()
    if active_raw not in {"", "1", "0", "true", "false", "yes", "no", "是", "否"}:
        raise RowError("active must be true/false")
    values = {
        "name": _get(row, "name", required=True, max_len=50),
        "role": role,
        "community_id": community.id if community else (grid.community_id if grid else None),
        "grid_id": grid.id if grid else None,
        "department_id": department.id if department else None,
        "property_company_id": company.id if company else None,
        "phone": _get(row, "phone", max_len=20) or None,
        "active": active_raw not in {"0", "false", "no", "否"},
    }
    openid = _get(row, "openid", max_len=64)
    if openid:
        values["openid"] = openid
        existing = u.session.scalar(select(Staff).where(Staff.openid == openid))
    else:
        existing = u.session.scalar(
            select(Staff).where(
                Staff.name == values["name"],
                Staff.role == role,
                Staff.community_id == values["community_id"],
                Staff.grid_id == values["grid_id"],
                Staff.department_id == values["department_id"],
                Staff.property_company_id == values["property_company_id"],
            )
        )
    u.upsert(Staff, existing, values)


def _qr_scenes(u: _Upserter, row: dict[str, str]) -> None:
    scene = _get(row, "scene", required=True, max_len=64)
    community = u.ref(Community, _get(row, "community_code", required=True), "community")
    grid = u.opt_ref(Grid, _get(row, "grid_code"), "grid")
    building = None
    estate_code, building_name = _get(row, "estate_code"), _get(row, "building")
    if estate_code or building_name:
        if not (estate_code and building_name):
            raise RowError("estate_code and building go together")
        estate = u.ref(Estate, estate_code, "estate")
        building = u.session.scalar(
            select(Building).where(Building.estate_id == estate.id, Building.name == building_name)
        )
        if building is None:
            raise RowError(f"unknown building {building_name!r} of estate {estate_code!r}")
        grid = grid or u.session.get(Grid, building.grid_id)
    values = {
        "scene": scene,
        "community_id": community.id,
        "grid_id": grid.id if grid else None,
        "building_id": building.id if building else None,
        "label": _get(row, "label", max_len=100),
    }
    u.upsert(QRScene, u.session.scalar(select(QRScene).where(QRScene.scene == scene)), values)


_IMPORTERS: dict[str, Callable[[_Upserter, dict[str, str]], None]] = {
    "communities": _communities,
    "grids": _grids,
    "property_companies": _property_companies,
    "estates": _estates,
    "buildings": _buildings,
    "departments": _departments,
    "staff": _staff,
    "qr_scenes": _qr_scenes,
}


def import_rows(
    session: Session, kind: str, rows: Iterable[dict[str, str]], *, lines: list[int] | None = None,
    progress: bool = False, total: int | None = None,
) -> ImportReport:  # fmt: skip
    """Upsert `rows` of `kind` (`lines`: their line numbers in the file, default 2, 3, …); raises
    OrgImportError listing every bad row (the caller rolls back)."""
    if kind not in _IMPORTERS:
        raise OrgImportError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    importer = _IMPORTERS[kind]
    report = ImportReport(kind=kind)
    upserter = _Upserter(session, report)
    for offset, row in enumerate(tqdm(rows, desc=f"import {kind}", unit="row", total=total, disable=not progress)):
        line = lines[offset] if lines is not None else offset + 2
        report.rows += 1
        if None in row:  # csv.DictReader puts surplus cells under the key None
            report.add_error(line, "more cells than header columns")
            continue
        try:
            with session.begin_nested():  # a bad row leaves no half-written state behind
                importer(upserter, row)
        except RowError as e:
            report.add_error(line, str(e))
    if report.bad_rows:
        raise OrgImportError(report.error_text(), details=report.errors)
    return report


def import_csv(session: Session, kind: str, path: Path, progress: bool = True) -> ImportReport:
    """Import one CSV file of `kind` (see the module docstring); all-or-nothing, the caller commits."""
    if kind not in _IMPORTERS:
        raise OrgImportError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    try:
        with Path(path).open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames:
                raise OrgImportError(f"{path}: empty file (a header row is required)")
            rows: list[dict[str, str]] = []
            lines: list[int] = []
            for row in reader:
                rows.append(row)
                lines.append(reader.line_num)  # the row's last physical line (quoted cells may span lines)
    except UnicodeDecodeError as e:
        raise OrgImportError(f"{path}: not UTF-8 ({e.reason} at byte {e.start}); save the CSV as UTF-8") from e
    except csv.Error as e:
        raise OrgImportError(f"{path}: malformed CSV: {e}") from e
    return import_rows(session, kind, rows, lines=lines, progress=progress, total=len(rows))
