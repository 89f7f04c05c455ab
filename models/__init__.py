"""SQLAlchemy 2.0 typed models; nothing here imports Flask, Redis or WeChat.

Each area keeps its tables in its own module; importing this package registers them all on `Base.metadata`.
Add a module's import here when you add the module.
"""

from models.analytics import KpiFact, KpiFactRefresh
from models.appeal import Appeal, AppealAttachment, AppealEvent, AppealSupporter
from models.audit import AuditEntry
from models.ballot import Ballot, BallotChoice, BallotOption, BallotResult, BallotVoter
from models.base import Base
from models.booking import Booking, BookingBan, BookingSeat, NoShowStrike, Venue, VenueClosure, VenueSeat
from models.calendar import CalendarDay
from models.callup import Callup, CallupRecipient, CallupShift, ShiftSignup
from models.cobuilding import (
    CobuildingMember,
    CobuildingNeed,
    CobuildingOrder,
    CobuildingProject,
    CobuildingProjectLink,
    CobuildingProjectUpdate,
    CobuildingReminder,
    CobuildingResource,
    CobuildingResourceCommunity,
    CobuildingUnit,
)
from models.console_session import ConsoleSession, ConsoleSignIn
from models.council import (
    Council,
    CouncilItem,
    CouncilMeeting,
    CouncilMember,
    MeetingAttendance,
    ProcedureStep,
)
from models.deadlines import Reminder, SlaPolicy
from models.duty import DutyShift
from models.events import Event, EventSignup
from models.messages import InboundMessage, OutboundMessage
from models.micro_project import (
    CommunityBudget,
    MicroProject,
    ProjectUpdate,
    Proposal,
    ProposalSupport,
    SupportThreshold,
)
from models.miniapp import IdempotencyRecord, MiniappSession
from models.notice import Notice, NoticeRead
from models.notify import SubscribeGrant
from models.org import Building, Community, Department, Estate, Grid, PropertyCompany, QRScene
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
from models.staff import Staff, StaffToken
from models.volunteer import (
    PostClaim,
    TeamMember,
    VolunteerApplication,
    VolunteerPost,
    VolunteerSkill,
    VolunteerTeam,
)

__all__ = [
    "ActionBranch",
    "ActionBranchMember",
    "Appeal",
    "AppealAttachment",
    "AppealEvent",
    "AppealSupporter",
    "AuditEntry",
    "AwardCandidate",
    "AwardRound",
    "Ballot",
    "BallotChoice",
    "BallotOption",
    "BallotResult",
    "BallotVoter",
    "Base",
    "Booking",
    "BookingBan",
    "BookingSeat",
    "Building",
    "CalendarDay",
    "Callup",
    "CallupRecipient",
    "CallupShift",
    "CobuildingMember",
    "CobuildingNeed",
    "CobuildingOrder",
    "CobuildingProject",
    "CobuildingProjectLink",
    "CobuildingProjectUpdate",
    "CobuildingReminder",
    "CobuildingResource",
    "CobuildingResourceCommunity",
    "CobuildingUnit",
    "Community",
    "CommunityBudget",
    "CommunityTag",
    "ConsoleSession",
    "ConsoleSignIn",
    "ConsultAnswer",
    "Council",
    "CouncilItem",
    "CouncilMeeting",
    "CouncilMember",
    "Department",
    "DuplicatePolicy",
    "DutyShift",
    "Estate",
    "Event",
    "EventSignup",
    "Grid",
    "IdempotencyRecord",
    "InboundMessage",
    "KpiFact",
    "KpiFactRefresh",
    "LabelledExample",
    "MeetingAttendance",
    "MicroProject",
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
    "ProcedureStep",
    "ProjectUpdate",
    "PropertyCompany",
    "Proposal",
    "ProposalSupport",
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
    "SupportThreshold",
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
