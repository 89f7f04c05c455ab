"""The community's structure: communities, grids, estates, buildings, departments, property companies, staff."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin


class Community(TimestampMixin, Base):
    """A residents' community (社区) within a street (街道)."""

    __tablename__ = "community"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    street: Mapped[str] = mapped_column(String(100), default="")


class Grid(TimestampMixin, Base):
    """A grid (网格): the smallest unit with a named grid worker/leader and a boundary."""

    __tablename__ = "grid"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    # GeoJSON Polygon/MultiPolygon in WGS-84 (lng, lat), as WeChat location messages report it.
    boundary: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class PropertyCompany(TimestampMixin, Base):
    """A property-management company (物业公司) serving one or more estates."""

    __tablename__ = "property_company"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))


class Estate(TimestampMixin, Base):
    """A residential estate (小区), managed by one property company."""

    __tablename__ = "estate"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    property_company_id: Mapped[int | None] = mapped_column(ForeignKey("property_company.id"), default=None)


class Building(TimestampMixin, Base):
    """A building (楼栋) of an estate; each building belongs to exactly one grid."""

    __tablename__ = "building"

    id: Mapped[int] = mapped_column(primary_key=True)
    estate_id: Mapped[int] = mapped_column(ForeignKey("estate.id"), index=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grid.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))


class Department(TimestampMixin, Base):
    """A handling unit outside the grid: 城管, 派出所, 消防, 市政, civil affairs, the service centre …"""

    __tablename__ = "department"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32), default="government")


class QRScene(TimestampMixin, Base):
    """A parametric QR code's scene value and what scanning it binds the resident to."""

    __tablename__ = "qr_scene"

    id: Mapped[int] = mapped_column(primary_key=True)
    scene: Mapped[str] = mapped_column(String(64), unique=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), default=None)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id"), default=None)
    label: Mapped[str] = mapped_column(String(100), default="")
    # The permanent QR code WeChat issued for the scene (QR_LIMIT_STR_SCENE): its ticket and the QR's content.
    ticket: Mapped[str | None] = mapped_column(String(200), default=None)
    qr_url: Mapped[str | None] = mapped_column(String(200), default=None)
