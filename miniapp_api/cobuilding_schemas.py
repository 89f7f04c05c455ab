"""Request and response schemas of co-building, shared by the mini-program API and the staff console API."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from miniapp_api.schemas import DbId

UnitKind = Literal["agency", "state_owned", "business", "school", "social_org", "other"]
ResourceKind = Literal["activity", "venue", "service", "expertise", "funding", "goods"]
OrderStatus = Literal["placed", "accepted", "declined", "scheduled", "delivered", "confirmed", "evaluated", "cancelled"]
Text100 = Field(min_length=1, max_length=100)


class IdPath(BaseModel):
    """An object by its id."""

    id: DbId


class MemberOut(BaseModel):
    """A 兼职委员 (phone masked outside the unit and its coordinators)."""

    id: int
    name: str
    post: str
    phone: str
    serves_from: str
    serves_until: str | None


class UnitOut(BaseModel):
    """A member unit of the 大党委."""

    id: int
    community_id: int
    code: str
    name: str
    kind: str
    kind_label: str
    contact_name: str
    contact_phone: str
    member_from: str
    member_until: str | None
    active: bool
    members: list[MemberOut]


class UnitList(BaseModel):
    """Member units."""

    items: list[UnitOut]


class UnitCreate(BaseModel):
    """A new member unit of the caller's community."""

    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Text100
    kind: UnitKind
    member_from: date
    member_until: date | None = None
    contact_name: str = Field(default="", max_length=50)
    contact_phone: str = Field(default="", max_length=20)
    address: str = Field(default="", max_length=200)


class UnitUpdate(BaseModel):
    """A member unit's particulars and membership period (its code stays)."""

    name: str = Text100
    kind: UnitKind
    member_from: date
    member_until: date | None = None
    contact_name: str = Field(default="", max_length=50)
    contact_phone: str = Field(default="", max_length=20)
    address: str = Field(default="", max_length=200)


class MemberCreate(BaseModel):
    """A 兼职委员 the unit sends; `staff_id` a member_unit login that acts for the unit."""

    name: str = Field(min_length=1, max_length=50)
    post: str = Field(default="兼职委员", min_length=1, max_length=50)
    phone: str = Field(default="", max_length=20)
    serves_from: date
    serves_until: date | None = None
    staff_id: DbId | None = None


class ResourceOut(BaseModel):
    """A resource of the list (资源清单)."""

    id: int
    unit_id: int
    unit_name: str
    kind: str
    kind_label: str
    title: str
    description: str
    capacity: int
    remaining: int
    unit_label: str
    available_from: str
    available_until: str
    expired: bool
    communities: list[int]
    contact_name: str
    contact_phone: str
    active: bool


class ResourceList(BaseModel):
    """A page of resources."""

    items: list[ResourceOut]
    total: int


class ResourceQuery(BaseModel):
    """Filters of the resource list."""

    kind: ResourceKind | None = None
    orderable: bool = Field(default=False, description="only resources that can be ordered now")
    unit_id: DbId | None = None
    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class ResourceCreate(BaseModel):
    """A resource a unit publishes (a coordinator names the unit; a unit's login publishes its own)."""

    unit_id: DbId | None = None
    kind: ResourceKind
    title: str = Text100
    description: str = Field(default="", max_length=2000)
    capacity: int = Field(ge=1, le=10_000_000)
    unit_label: str = Field(default="次", min_length=1, max_length=10)
    available_from: AwareDatetime
    available_until: AwareDatetime
    community_ids: list[DbId] = Field(default_factory=list, max_length=50)
    contact_name: str = Field(default="", max_length=50)
    contact_phone: str = Field(default="", max_length=20)


class ResourceUpdate(BaseModel):
    """A listed resource's text, capacity (never below what orders hold), window, communities and contact."""

    title: str = Text100
    description: str = Field(default="", max_length=2000)
    capacity: int = Field(ge=1, le=10_000_000)
    unit_label: str = Field(default="次", min_length=1, max_length=10)
    available_from: AwareDatetime
    available_until: AwareDatetime
    community_ids: list[DbId] = Field(default_factory=list, max_length=50)
    contact_name: str = Field(default="", max_length=50)
    contact_phone: str = Field(default="", max_length=20)


class NeedOut(BaseModel):
    """A need of the list (需求清单)."""

    id: int
    community_id: int
    grid_id: int | None
    source: str
    source_label: str
    deliberation_ref: str | None
    kind: str | None
    title: str
    description: str
    beneficiaries: int
    beneficiary_note: str
    wanted_by: str | None
    status: str


class NeedList(BaseModel):
    """A page of needs."""

    items: list[NeedOut]
    total: int


class NeedQuery(BaseModel):
    """Filters of the needs list."""

    status: Literal["open", "ordered", "met", "closed"] | None = None
    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class NeedCreate(BaseModel):
    """A need: typed in, or raised from an appeal (its public id) or a deliberation item (its reference)."""

    title: str = Text100
    description: str = Field(default="", max_length=2000)
    kind: ResourceKind | None = None
    beneficiaries: int = Field(default=0, ge=0, le=1_000_000)
    beneficiary_note: str = Field(default="", max_length=200)
    wanted_by: date | None = None
    grid_id: DbId | None = None
    appeal_public_id: str | None = Field(default=None, min_length=8, max_length=32)
    deliberation_ref: str | None = Field(default=None, min_length=1, max_length=64)


class Suggestion(BaseModel):
    """A resource suggested for a need, with the shared keywords as the reason."""

    resource_id: int
    title: str
    kind: str
    unit_id: int
    unit_name: str
    remaining: int
    score: float
    shared_keywords: list[str]
    reason: str


class SuggestionList(BaseModel):
    """Suggestions for a need, best first."""

    items: list[Suggestion]


class SuggestQuery(BaseModel):
    """How many suggestions."""

    limit: int = Field(default=3, ge=1, le=20)


class OrderCreate(BaseModel):
    """一键下单: a resource, from the list or for a need."""

    resource_id: DbId
    need_id: DbId | None = None
    quantity: int = Field(default=1, ge=1, le=10_000_000)
    beneficiaries: int | None = Field(default=None, ge=0, le=1_000_000)
    note: str = Field(default="", max_length=500)


class OrderOut(BaseModel):
    """An order with what the caller may do next."""

    id: int
    resource_id: int
    resource_title: str
    unit_id: int
    unit_name: str
    need_id: int | None
    community_id: int
    grid_id: int | None
    requester_staff_id: int
    quantity: int
    beneficiaries: int
    note: str
    status: str
    status_label: str
    placed_at: str | None
    accept_due_at: str | None
    escalated: bool
    decline_reason: str | None
    scheduled_for: str | None
    delivered_at: str | None
    unit_confirmed_at: str | None
    requester_confirmed_at: str | None
    score: int | None
    evaluation: str | None
    allowed_actions: list[str]


class OrderList(BaseModel):
    """A page of orders."""

    items: list[OrderOut]
    total: int


class OrderQuery(BaseModel):
    """Filters of the order list."""

    status: OrderStatus | None = None
    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class DeclineBody(BaseModel):
    """婉拒: the reason is required."""

    reason: str = Field(default="", max_length=500)


class ScheduleBody(BaseModel):
    """When the unit delivers."""

    at: AwareDatetime


class EvaluateBody(BaseModel):
    """The requester's evaluation."""

    score: int = Field(ge=1, le=5)
    text: str = Field(default="", max_length=1000)
    beneficiaries: int | None = Field(default=None, ge=0, le=1_000_000)


class ProjectLinkIn(BaseModel):
    """A unit of the project, with the need it answers and the resource it brings."""

    unit_id: DbId
    need_id: DbId | None = None
    resource_id: DbId | None = None


class ProjectCreate(BaseModel):
    """A co-building project of the caller's community."""

    title: str = Text100
    goal: str = Field(default="", max_length=2000)
    starts_on: date
    ends_on: date
    budget_yuan: int = Field(default=0, ge=0, le=1_000_000_000)
    links: list[ProjectLinkIn] = Field(default_factory=list, max_length=50)


class ProgressBody(BaseModel):
    """A progress update."""

    text: str = Field(min_length=1, max_length=2000)
    progress: int = Field(ge=0, le=100)
    photos: list[str] = Field(default_factory=list, max_length=20)


class CloseProjectBody(BaseModel):
    """结项 with the result and photos."""

    result: str = Field(min_length=1, max_length=4000)
    photos: list[str] = Field(default_factory=list, max_length=20)


class ProjectOut(BaseModel):
    """A project with its units, needs, resources and progress."""

    id: int
    community_id: int
    title: str
    goal: str
    starts_on: str
    ends_on: str
    budget_yuan: int
    progress: int
    status: str
    result: str | None
    photos: list[Any]
    closed_at: str | None
    links: list[dict[str, Any]]
    updates: list[dict[str, Any]]


class PageOnly(BaseModel):
    """A page of a list without filters."""

    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class ProjectList(BaseModel):
    """A page of projects."""

    items: list[ProjectOut]
    total: int


class FiguresQuery(BaseModel):
    """Which month (local), and for the street office which community."""

    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")
    community_id: DbId | None = None


class FiguresOut(BaseModel):
    """A month's figures per unit and the community's total."""

    month: str
    community_id: int | None
    units: list[dict[str, Any]]
    total: dict[str, Any] | None
