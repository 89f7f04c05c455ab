"""Duplicates and "me too": a new report of an open problem joins it as a supporter.

FixMyStreet suggests open reports of the same category within a per-category radius; hongguan also matches on
the building and on the text (jieba token Jaccard similarity), within a recent window. The window, radius and
threshold τ are data (`duplicate_policy`, per category with a default row), editable by staff.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from infra import clock
from models.appeal import Appeal, AppealSupporter
from models.resident import Resident
from models.routing import DuplicatePolicy
from services.appeals.records import record_event, supporters_of
from services.appeals.states import UNRESOLVED

__all__ = [
    "DuplicateMatch",
    "Policy",
    "find_duplicate",
    "jaccard",
    "link_supporter",
    "policy_for",
    "supporters_of",
]

# Statuses in which a "me too" still helps; once the handler says it is resolved, a new report is news.
EARTH_RADIUS_M = 6_371_000.0
# The most recent candidates compared per check: the filters (category, building or bounding box, window,
# open status) are indexed, and a "me too" is almost always about a recent report.
MAX_CANDIDATES = 50


@dataclass(frozen=True)
class Policy:
    """How close a new report must be to an open appeal to count as the same problem."""

    window_days: int = 14
    radius_m: float = 100.0
    threshold: float = 0.2


@dataclass(frozen=True)
class DuplicateMatch:
    """An open appeal the new report duplicates, with the similarity and the reason it matched."""

    appeal: Appeal
    similarity: float
    reason: str  # "building" | "radius"


def policy_for(session: Session, category: str | None) -> Policy:
    """The duplicate policy of a category, else the default row, else the built-in defaults."""
    rows = {
        p.category: p
        for p in session.scalars(
            select(DuplicatePolicy).where(
                DuplicatePolicy.active.is_(True),
                (DuplicatePolicy.category == category) | DuplicatePolicy.category.is_(None),
            )
        )
    }
    row = rows.get(category) or rows.get(None)
    if row is None:
        return Policy()
    return Policy(window_days=row.window_days, radius_m=row.radius_m, threshold=row.threshold)


@lru_cache(maxsize=8192)
def token_set(text: str) -> frozenset[str]:
    """Content tokens of a message (jieba via the nlp tokenizer, stop-words and numbers removed).

    Cached per process: every duplicate check compares the new text with up to MAX_CANDIDATES open appeals,
    and re-running jieba on each of them on every check made intake's cost grow with the number of open
    appeals. Appeal texts never change, so the cache only saves work (8,192 short texts ≈ a few MB).
    """
    from nlp import tokenize

    return frozenset(tokenize.tokens(text))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a ∩ b| / |a ∪ b|, 0 for two empty sets."""
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def find_duplicate(
    session: Session,
    *,
    category: str,
    text: str,
    building_id: int | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    exclude_resident_id: int | None = None,
    exclude_appeal_id: int | None = None,
    policy: Policy | None = None,
) -> DuplicateMatch | None:
    """The most similar open appeal of the same category and place within the window, if similar enough."""
    has_point = latitude is not None and longitude is not None
    if building_id is None and not has_point:
        return None  # no place to compare: two "电梯坏了" in different estates are different problems
    policy = policy or policy_for(session, category)
    since = clock.now() - timedelta(days=policy.window_days)
    stmt = select(Appeal).where(
        Appeal.kind == "appeal",
        Appeal.category == category,
        Appeal.status.in_(UNRESOLVED),
        Appeal.created_at >= since,
    )
    if exclude_appeal_id is not None:
        stmt = stmt.where(Appeal.id != exclude_appeal_id)
    if exclude_resident_id is not None:
        stmt = stmt.where((Appeal.resident_id.is_(None)) | (Appeal.resident_id != exclude_resident_id))
    if has_point:
        # A bounding box narrows the candidates in SQL; the exact circle is checked below.
        dlat = policy.radius_m / 111_320.0
        dlng = dlat / max(0.01, math.cos(math.radians(float(latitude))))  # type: ignore[arg-type]
        near = (
            Appeal.latitude.between(latitude - dlat, latitude + dlat)  # type: ignore[operator]
            & Appeal.longitude.between(longitude - dlng, longitude + dlng)  # type: ignore[operator]
        )
        stmt = stmt.where((Appeal.building_id == building_id) | near if building_id is not None else near)
    else:
        stmt = stmt.where(Appeal.building_id == building_id)
    mine = token_set(text)
    best: DuplicateMatch | None = None
    for candidate in session.scalars(stmt.order_by(Appeal.created_at.desc()).limit(MAX_CANDIDATES)):
        if building_id is not None and candidate.building_id == building_id:
            reason = "building"
        elif (
            has_point
            and candidate.latitude is not None
            and candidate.longitude is not None
            and distance_m(latitude, longitude, candidate.latitude, candidate.longitude) <= policy.radius_m  # type: ignore[arg-type]
        ):
            reason = "radius"
        else:
            continue
        similarity = jaccard(mine, token_set(candidate.text))
        if similarity >= policy.threshold and (best is None or similarity > best.similarity):
            best = DuplicateMatch(candidate, round(similarity, 4), reason)
    return best


def link_supporter(
    session: Session,
    appeal: Appeal,
    resident: Resident,
    *,
    text: str | None = None,
    similarity: float | None = None,
) -> AppealSupporter:
    """Add the resident as a supporter of the appeal once, with a `support` event; a repeat becomes a note."""
    existing = session.scalar(
        select(AppealSupporter).where(
            AppealSupporter.appeal_id == appeal.id, AppealSupporter.resident_id == resident.id
        )
    )
    if existing is not None:
        if text:
            record_event(session, appeal, "note", actor_type="resident", actor_id=resident.id, note=text)
        return existing
    supporter = AppealSupporter(appeal_id=appeal.id, resident_id=resident.id, text=text, created_at=clock.now())
    try:
        with session.begin_nested():  # a concurrent "me too" by the same resident hits the unique key
            session.add(supporter)
    except IntegrityError:
        return link_supporter(session, appeal, resident, text=text, similarity=similarity)
    payload: dict[str, object] = {"resident_id": resident.id}
    if similarity is not None:
        payload["similarity"] = similarity
    record_event(session, appeal, "support", actor_type="resident", actor_id=resident.id, note=text, payload=payload)
    return supporter
