"""The default community taxonomy: 13 appeal categories plus `other`, with labels and default handlers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Category:
    """One category of the default community taxonomy."""

    code: str
    label: str
    handler_kind: str  # the kind of unit that handles it; the concrete unit is routing data in the database
    is_appeal: bool = True  # consultations are answered, not dispatched, and are not counted as appeals


CATEGORIES: tuple[Category, ...] = (
    Category("property", "物业服务", "property_company"),
    Category("sanitation", "环境卫生", "grid"),
    Category("municipal", "市政设施", "municipal_department"),
    Category("city_order", "市容秩序", "urban_management"),
    Category("traffic_parking", "交通停车", "traffic_police"),
    # No category is urgent by default: a blocked fire exit is serious and goes to fire safety, but only danger
    # happening now is an emergency, which the urgency detector (nlp/urgency.py) finds whatever the category.
    Category("fire_safety", "消防安全", "fire_brigade"),
    Category("public_security", "社会治安", "police_station"),
    Category("noise", "噪音扰民", "environment_or_urban_management"),
    Category("neighbor", "邻里纠纷", "grid_mediation"),
    Category("social_welfare", "民生保障", "civil_affairs"),
    Category("health", "卫生健康", "health_department"),
    Category("education_culture", "教育文体", "education_culture"),
    Category("consult", "政务咨询", "service_centre", is_appeal=False),
    Category("other", "其他", "grid_triage", is_appeal=False),
)

BY_CODE: dict[str, Category] = {c.code: c for c in CATEGORIES}
CODES: tuple[str, ...] = tuple(c.code for c in CATEGORIES)
CONSULT = "consult"
OTHER = "other"


def label_of(code: str) -> str:
    """Chinese label of a taxonomy code, or the code itself for labels of other models."""
    category = BY_CODE.get(code)
    return category.label if category else code
