"""SQLAlchemy 2.0 typed models; nothing here imports Flask, Redis or WeChat.

Each area keeps its tables in its own module; importing this package registers them all on `Base.metadata`.
Add a module's import here when you add the module.
"""

from models.appeal import Appeal, AppealAttachment, AppealEvent, AppealSupporter
from models.base import Base
from models.booking import Booking, BookingBan, BookingSeat, NoShowStrike, Venue, VenueClosure, VenueSeat
from models.callup import Callup, CallupRecipient, CallupShift, ShiftSignup
from models.events import Event, EventSignup
from models.messages import InboundMessage, OutboundMessage
from models.miniapp import IdempotencyRecord, MiniappSession, Notice, NoticeRead
from models.notify import SubscribeGrant
from models.org import Building, Community, Department, Estate, Grid, PropertyCompany, QRScene, Staff
from models.outbox import PendingJob
from models.party import (
    ActionBranch,
    ActionBranchMember,
    AwardCandidate,
    AwardRound,
    CommunityTag,
    PartyHousehold,
    PartyMember,
    PioneerLog,
    TagAssignment,
)
from models.points import (
    PartnerMember,
    PartnerUnit,
    PointsAccount,
    PointsLedger,
    Redemption,
    Reward,
    TaskCategory,
    TaskSubmission,
)
from models.reports import RankingChange, RankingEntry, RankingSnapshot, Report
from models.resident import Resident
from models.routing import ConsultAnswer, DuplicatePolicy, LabelledExample, PendingFollowUp, RoutingRule
from models.volunteer import (
    PostClaim,
    TeamMember,
    VolunteerApplication,
    VolunteerPost,
    VolunteerSkill,
    VolunteerTeam,
)
from models.workflow import CalendarDay, DutyShift, Reminder, SlaPolicy, StaffToken

__all__ = [
    "ActionBranch",
    "ActionBranchMember",
    "Appeal",
    "AppealAttachment",
    "AppealEvent",
    "AppealSupporter",
    "AwardCandidate",
    "AwardRound",
    "Base",
    "Booking",
    "BookingBan",
    "BookingSeat",
    "Building",
    "CalendarDay",
    "Callup",
    "CallupRecipient",
    "CallupShift",
    "Community",
    "CommunityTag",
    "ConsultAnswer",
    "Department",
    "DuplicatePolicy",
    "DutyShift",
    "Estate",
    "Event",
    "EventSignup",
    "Grid",
    "IdempotencyRecord",
    "InboundMessage",
    "LabelledExample",
    "MiniappSession",
    "NoShowStrike",
    "Notice",
    "NoticeRead",
    "OutboundMessage",
    "PartnerMember",
    "PartnerUnit",
    "PartyHousehold",
    "PartyMember",
    "PendingFollowUp",
    "PendingJob",
    "PioneerLog",
    "PointsAccount",
    "PointsLedger",
    "PostClaim",
    "PropertyCompany",
    "QRScene",
    "RankingChange",
    "RankingEntry",
    "RankingSnapshot",
    "Redemption",
    "Reminder",
    "Report",
    "Resident",
    "Reward",
    "RoutingRule",
    "ShiftSignup",
    "SlaPolicy",
    "Staff",
    "StaffToken",
    "SubscribeGrant",
    "TagAssignment",
    "TaskCategory",
    "TaskSubmission",
    "TeamMember",
    "Venue",
    "VenueClosure",
    "VenueSeat",
    "VolunteerApplication",
    "VolunteerPost",
    "VolunteerSkill",
    "VolunteerTeam",
]
