"""Ballots on micro-projects: options, who voted (apart), what was chosen (apart), and published results.

Who voted (`ballot_voter`) and what was chosen (`ballot_choice`) share nothing but the ballot: see
`services.participation.ballots` for how the two are kept from being re-linked.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, PrimaryKeyConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin

BALLOT_RULES = ("household", "resident")


def _public_id() -> str:
    return uuid.uuid4().hex


class Ballot(TimestampMixin, Base):
    """A vote on some feasible proposals by the verified residents of a scope, within a window."""

    __tablename__ = "ballot"
    __table_args__ = (
        CheckConstraint("max_choices >= 1", name="max_choices_positive"),
        CheckConstraint("closes_at > opens_at", name="window_order"),
        CheckConstraint("rule IN ('household', 'resident')", name="rule_known"),
        CheckConstraint("scope IN ('building', 'estate', 'community')", name="scope_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=_public_id)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    scope: Mapped[str] = mapped_column(String(16))
    estate_id: Mapped[int | None] = mapped_column(ForeignKey("estate.id"), default=None)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id"), default=None)
    title: Mapped[str] = mapped_column(String(100))
    opens_at: Mapped[datetime] = mapped_column(index=True)
    closes_at: Mapped[datetime] = mapped_column(index=True)
    rule: Mapped[str] = mapped_column(String(16))  # household: one per bound room | resident: one per person
    max_choices: Mapped[int] = mapped_column(default=1)
    created_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    # Set once, when the results are published after the close.
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    eligible_count: Mapped[int | None] = mapped_column(default=None)
    voter_count: Mapped[int | None] = mapped_column(default=None)


class BallotOption(Base):
    """A proposal on a ballot."""

    __tablename__ = "ballot_option"
    __table_args__ = (UniqueConstraint("ballot_id", "proposal_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ballot_id: Mapped[int] = mapped_column(ForeignKey("ballot.id"), index=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposal.id"))
    position: Mapped[int] = mapped_column(default=0)


class BallotVoter(Base):
    """That a household or a resident has voted: UNIQUE(ballot, voter_key) is the one-ballot rule itself.

    voter_key is "h:<building id>:<room>" under the household rule, "r:<resident id>" under the resident rule.
    No time and no choice is kept here.
    """

    __tablename__ = "ballot_voter"
    __table_args__ = (UniqueConstraint("ballot_id", "voter_key"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_public_id)
    ballot_id: Mapped[int] = mapped_column(ForeignKey("ballot.id"))
    voter_key: Mapped[str] = mapped_column(String(64))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"), default=None)


class BallotChoice(Base):
    """One choice on one secret ballot paper: the paper is a random key, with no voter, time or sequence.

    Stored WITHOUT ROWID on SQLite, so rows sit in random-key order rather than insertion order.
    """

    __tablename__ = "ballot_choice"
    __table_args__ = (
        PrimaryKeyConstraint("ballot_id", "paper", "option_id"),
        {"sqlite_with_rowid": False},
    )

    ballot_id: Mapped[int] = mapped_column(ForeignKey("ballot.id"))
    paper: Mapped[str] = mapped_column(String(32))
    option_id: Mapped[int] = mapped_column(ForeignKey("ballot_option.id"))


class BallotResult(Base):
    """A published count for one option (written once, at publication)."""

    __tablename__ = "ballot_result"
    __table_args__ = (UniqueConstraint("ballot_id", "option_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ballot_id: Mapped[int] = mapped_column(ForeignKey("ballot.id"), index=True)
    option_id: Mapped[int] = mapped_column(ForeignKey("ballot_option.id"))
    votes: Mapped[int] = mapped_column()
    rank: Mapped[int] = mapped_column()
