"""Volunteer teams (志愿服务队) with a leader and members, and posts (岗位) claimed for a duty period (认岗领责)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from infra import clock
from models.org import Grid
from models.resident import Resident
from models.staff import Staff
from models.volunteer import PostClaim, TeamMember, VolunteerPost, VolunteerTeam
from services.errors import Conflict, DomainError, Forbidden, InvalidTransition, NotFound
from services.organisation.organisers import may_follow, organiser

MAX_DUTY_DAYS = 366


def _volunteer(session: Session, resident_id: int) -> Resident:
    resident = session.get(Resident, resident_id)
    if resident is None:
        raise NotFound("居民不存在")
    if not resident.is_volunteer:
        raise Conflict("该居民还不是志愿者", code="not_volunteer")
    return resident


def create_team(
    session: Session,
    staff_id: int,
    *,
    community_id: int,
    name: str,
    grid_id: int | None = None,
    leader_resident_id: int | None = None,
    description: str = "",
) -> VolunteerTeam:
    """Form a team of a community (or of one of its grids); the leader, if named, becomes its first member."""
    organiser(session, staff_id, community_id, grid_id)
    if not name.strip():
        raise DomainError("队伍名称不能为空", code="name_required")
    if grid_id is not None:
        grid = session.get(Grid, grid_id)
        if grid is None or grid.community_id != community_id:
            raise NotFound("网格不存在")
    team = VolunteerTeam(
        community_id=community_id, grid_id=grid_id, name=name.strip()[:100], description=description[:500]
    )
    session.add(team)
    session.flush()
    if leader_resident_id is not None:
        set_leader(session, staff_id, team.id, leader_resident_id)
    return team


def _team(session: Session, team_id: int) -> VolunteerTeam:
    team = session.get(VolunteerTeam, team_id)
    if team is None or not team.active:
        raise NotFound("志愿服务队不存在")
    return team


def team_for_staff(session: Session, team_id: int, staff_id: int) -> VolunteerTeam:
    """A team the staff member may see (their community's; grid staff: community-wide or their grid's)."""
    team = _team(session, team_id)
    if not may_follow(session.get(Staff, staff_id), team.community_id, team.grid_id):
        raise Forbidden("无权查看该志愿服务队", code="other_scope")
    return team


def add_member(session: Session, staff_id: int, team_id: int, resident_id: int, role: str = "member") -> TeamMember:
    """Add a volunteer of the team's community to the team (idempotent)."""
    team = _team(session, team_id)
    organiser(session, staff_id, team.community_id, team.grid_id)
    resident = _volunteer(session, resident_id)
    if resident.community_id != team.community_id:
        raise Conflict("只能加入本社区的志愿服务队", code="other_community")
    row = session.scalar(select(TeamMember).where(TeamMember.team_id == team_id, TeamMember.resident_id == resident_id))
    if row is None:
        row = TeamMember(team_id=team_id, resident_id=resident_id, role=role)
        session.add(row)
    else:
        row.role = role
    session.flush()
    return row


def set_leader(session: Session, staff_id: int, team_id: int, resident_id: int) -> VolunteerTeam:
    """Make a volunteer the team's leader (the previous leader stays a member)."""
    team = _team(session, team_id)
    session.execute(
        update(TeamMember).where(TeamMember.team_id == team_id, TeamMember.role == "leader").values(role="member")
    )
    add_member(session, staff_id, team_id, resident_id, role="leader")
    team.leader_resident_id = resident_id
    session.flush()
    return team


def teams_of(session: Session, resident_id: int) -> list[tuple[VolunteerTeam, str]]:
    """The teams a volunteer belongs to, with their role in each."""
    rows = session.execute(
        select(VolunteerTeam, TeamMember.role)
        .join(TeamMember, TeamMember.team_id == VolunteerTeam.id)
        .where(TeamMember.resident_id == resident_id, VolunteerTeam.active.is_(True))
        .order_by(VolunteerTeam.id)
    )
    return [(team, role) for team, role in rows]


def list_teams(session: Session, community_id: int) -> list[VolunteerTeam]:
    """Active teams of a community."""
    return list(
        session.scalars(
            select(VolunteerTeam)
            .where(VolunteerTeam.community_id == community_id, VolunteerTeam.active.is_(True))
            .order_by(VolunteerTeam.id)
        )
    )


def team_size(session: Session, team_id: int) -> int:
    """Members of a team."""
    return int(session.scalar(select(func.count()).select_from(TeamMember).where(TeamMember.team_id == team_id)) or 0)


def create_post(
    session: Session,
    staff_id: int,
    *,
    community_id: int,
    name: str,
    duties: str = "",
    holders: int = 1,
    grid_id: int | None = None,
    team_id: int | None = None,
) -> VolunteerPost:
    """Open a post volunteers can claim; `holders` volunteers may hold it at once."""
    organiser(session, staff_id, community_id, grid_id)
    if not name.strip():
        raise DomainError("岗位名称不能为空", code="name_required")
    if holders < 1:
        raise DomainError("岗位人数至少为 1", code="holders_positive")
    if team_id is not None and _team(session, team_id).community_id != community_id:
        raise NotFound("志愿服务队不存在")
    post = VolunteerPost(
        community_id=community_id,
        grid_id=grid_id,
        team_id=team_id,
        name=name.strip()[:100],
        duties=duties[:500],
        holders=holders,
    )
    session.add(post)
    session.flush()
    return post


def list_posts(session: Session, community_id: int) -> list[tuple[VolunteerPost, int]]:
    """Active posts of a community with how many seats are free."""
    taken = (
        select(PostClaim.post_id, func.count().label("n"))
        .where(PostClaim.seat.is_not(None))
        .group_by(PostClaim.post_id)
        .subquery()
    )
    rows = session.execute(
        select(VolunteerPost, func.coalesce(taken.c.n, 0))
        .outerjoin(taken, taken.c.post_id == VolunteerPost.id)
        .where(VolunteerPost.community_id == community_id, VolunteerPost.active.is_(True))
        .order_by(VolunteerPost.id)
    )
    return [(post, post.holders - int(n)) for post, n in rows]


def claim_post(session: Session, post_id: int, resident_id: int, *, starts_on: date, ends_on: date) -> PostClaim:
    """A volunteer takes a post for a duty period: the first free numbered seat, so holders never overflow."""
    post = session.scalar(select(VolunteerPost).where(VolunteerPost.id == post_id).with_for_update())
    if post is None or not post.active:
        raise NotFound("岗位不存在")
    resident = _volunteer(session, resident_id)
    if resident.community_id != post.community_id:
        raise Conflict("只能认领本社区的岗位", code="other_community")
    if ends_on < starts_on:
        raise DomainError("履职结束日期不能早于开始日期", code="period_ordered")
    if (ends_on - starts_on).days > MAX_DUTY_DAYS:
        raise DomainError("履职期限最长一年", code="period_too_long")
    if ends_on < clock.local_now().date():
        raise DomainError("履职期限已过", code="period_past")
    held = session.scalar(
        select(PostClaim.id).where(
            PostClaim.post_id == post_id, PostClaim.resident_id == resident_id, PostClaim.seat.is_not(None)
        )
    )
    if held is not None:
        raise Conflict("您已认领该岗位", code="already_claimed")
    used = set(session.scalars(select(PostClaim.seat).where(PostClaim.post_id == post_id, PostClaim.seat.is_not(None))))
    free = [seat for seat in range(1, post.holders + 1) if seat not in used]
    if not free:
        raise Conflict("该岗位已满员", code="post_full")
    claim = PostClaim(post_id=post_id, resident_id=resident_id, seat=free[0], starts_on=starts_on, ends_on=ends_on)
    try:
        with session.begin_nested():
            session.add(claim)
            session.flush()
    except IntegrityError as exc:  # another claim took the same seat at the same moment
        raise Conflict("该岗位刚被认领，请重试", code="post_full") from exc
    return claim


def release_post(session: Session, claim_id: int, resident_id: int) -> PostClaim:
    """Give a post back before the end of the duty period; the seat is free again."""
    claim = session.get(PostClaim, claim_id)
    if claim is None or claim.resident_id != resident_id:
        raise NotFound("认岗记录不存在")
    if claim.seat is None:
        raise InvalidTransition("该岗位已卸任")
    claim.seat, claim.released_at = None, clock.now()
    session.flush()
    return claim


def posts_of(session: Session, resident_id: int) -> list[tuple[PostClaim, VolunteerPost]]:
    """The posts a volunteer holds now (duty period not over)."""
    rows = session.execute(
        select(PostClaim, VolunteerPost)
        .join(VolunteerPost, VolunteerPost.id == PostClaim.post_id)
        .where(
            PostClaim.resident_id == resident_id,
            PostClaim.seat.is_not(None),
            PostClaim.ends_on >= clock.local_now().date(),
        )
        .order_by(PostClaim.starts_on)
    )
    return [(claim, post) for claim, post in rows]


def members_of(session: Session, team_id: int) -> list[tuple[TeamMember, Resident]]:
    """A team's members, the leader first."""
    rows = session.execute(
        select(TeamMember, Resident)
        .join(Resident, Resident.id == TeamMember.resident_id)
        .where(TeamMember.team_id == team_id)
        .order_by((TeamMember.role != "leader"), TeamMember.id)
    )
    return [(m, r) for m, r in rows]


def claims_of(session: Session, post_id: int) -> list[tuple[PostClaim, Resident]]:
    """Who holds a post now and for which duty period (released claims left out)."""
    rows = session.execute(
        select(PostClaim, Resident)
        .join(Resident, Resident.id == PostClaim.resident_id)
        .where(PostClaim.post_id == post_id, PostClaim.seat.is_not(None))
        .order_by(PostClaim.seat)
    )
    return [(c, r) for c, r in rows]
