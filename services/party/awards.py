"""每月评优选先进: candidates per community and month from the points ledger and 先锋日志; staff approve; a notice."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from infra import clock, privacy
from models.notice import Notice
from models.party import AwardCandidate, AwardRound, PioneerLog
from models.points import PointsLedger
from models.resident import Resident
from services.errors import DomainError, InvalidTransition, NotFound
from services.notices import announcements as notices
from services.organisation.organisers import organiser


def _round(session: Session, community_id: int, period_key: str) -> AwardRound:
    row = session.scalar(
        select(AwardRound)
        .where(AwardRound.community_id == community_id, AwardRound.period_key == period_key)
        .with_for_update()
    )
    if row is None:
        row = AwardRound(community_id=community_id, period_key=period_key, status="draft")
        session.add(row)
        session.flush()
    return row


def compute_candidates(
    session: Session, staff_id: int, community_id: int, period_key: str, *, top: int = 10
) -> list[AwardCandidate]:
    """Rank the month's earners of a community (points earned there, then approved log entries); replaces a draft."""
    organiser(session, staff_id, community_id, None)
    award = _round(session, community_id, period_key)
    if award.status == "published":
        raise InvalidTransition("本月评选已发布")
    earned = dict(
        session.execute(
            select(PointsLedger.resident_id, func.sum(PointsLedger.delta))
            .where(
                PointsLedger.community_id == community_id,
                PointsLedger.period_key == period_key,
                PointsLedger.kind == "earn",
            )
            .group_by(PointsLedger.resident_id)
        ).all()
    )
    logged = dict(
        session.execute(
            select(PioneerLog.resident_id, func.count())
            .where(
                PioneerLog.community_id == community_id,
                PioneerLog.period_key == period_key,
                PioneerLog.status == "approved",
            )
            .group_by(PioneerLog.resident_id)
        ).all()
    )
    erased = set(
        session.scalars(
            select(Resident.id).where(Resident.id.in_(set(earned) | set(logged)), Resident.erased_at.is_not(None))
        )
    )
    people = sorted(
        (rid for rid in set(earned) | set(logged) if rid not in erased),
        key=lambda rid: (-int(earned.get(rid, 0)), -int(logged.get(rid, 0)), rid),
    )[:top]
    session.execute(delete(AwardCandidate).where(AwardCandidate.round_id == award.id))
    rows = [
        AwardCandidate(
            round_id=award.id,
            resident_id=rid,
            rank=i + 1,
            points=int(earned.get(rid, 0)),
            log_entries=int(logged.get(rid, 0)),
        )
        for i, rid in enumerate(people)
    ]
    session.add_all(rows)
    session.flush()
    return rows


def candidate_view(session: Session, candidate: AwardCandidate) -> dict[str, Any]:
    """A candidate as staff and the public notice see it (name masked)."""
    person = session.get(Resident, candidate.resident_id)
    return {
        "id": candidate.id, "round_id": candidate.round_id, "rank": candidate.rank,
        "name": privacy.mask_name(person.name if person else ""), "points": candidate.points,
        "log_entries": candidate.log_entries, "approved": candidate.approved,
    }  # fmt: skip


def approve_and_publish(session: Session, staff_id: int, round_id: int, candidate_ids: list[int]) -> Notice:
    """Approve the chosen candidates and publish the round as a community notice (once)."""
    award = session.scalar(select(AwardRound).where(AwardRound.id == round_id).with_for_update())
    if award is None:
        raise NotFound("评选不存在")
    staff = organiser(session, staff_id, award.community_id, None)
    if award.status == "published":
        raise InvalidTransition("本月评选已发布")
    chosen = list(
        session.scalars(
            select(AwardCandidate)
            .where(AwardCandidate.round_id == round_id, AwardCandidate.id.in_(candidate_ids))
            .order_by(AwardCandidate.rank)
        )
    )
    if not chosen or len(chosen) != len(set(candidate_ids)):
        raise DomainError("请选择本轮评选的候选人", code="bad_candidates")
    for c in chosen:
        c.approved = True
    year, month = award.period_key.split("-")
    lines = [f"{i + 1}. {candidate_view(session, c)['name']}（{c.points} 分）" for i, c in enumerate(chosen)]
    notice = notices.publish(
        session, staff,
        title=f"{year}年{int(month)}月志愿服务先进",
        body="经社区审核，本月先进志愿者（党员）如下：\n" + "\n".join(lines),
        published_at=clock.now(),
    )  # fmt: skip
    award.status, award.notice_id, award.published_by_staff_id = "published", notice.id, staff_id
    session.flush()
    return notice


def round_of(session: Session, community_id: int, period_key: str) -> tuple[AwardRound | None, list[AwardCandidate]]:
    """A month's award round of a community (None before candidates were computed) and its candidates by rank."""
    award = session.scalar(
        select(AwardRound).where(AwardRound.community_id == community_id, AwardRound.period_key == period_key)
    )
    if award is None:
        return None, []
    candidates = session.scalars(
        select(AwardCandidate).where(AwardCandidate.round_id == award.id).order_by(AwardCandidate.rank)
    )
    return award, list(candidates)
