"""SQLAlchemy 2.0 typed models; nothing here imports Flask, Redis or WeChat.

Each area keeps its tables in its own module; importing this package registers them all on `Base.metadata`.
Add a module's import here when you add the module.
"""

from models.appeal import Appeal, AppealAttachment, AppealEvent, AppealSupporter
from models.base import Base
from models.booking import Booking, BookingBan, BookingSeat, NoShowStrike, Venue, VenueClosure, VenueSeat
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
from models.events import Event, EventSignup
from models.messages import InboundMessage, OutboundMessage
from models.miniapp import IdempotencyRecord, MiniappSession, Notice, NoticeRead
from models.notify import SubscribeGrant
from models.org import Building, Community, Department, Estate, Grid, PropertyCompany, QRScene, Staff
from models.outbox import PendingJob
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
from models.workflow import CalendarDay, DutyShift, Reminder, SlaPolicy, StaffToken

__all__ = [
    "Appeal",
    "AppealAttachment",
    "AppealEvent",
    "AppealSupporter",
    "Base",
    "Booking",
    "BookingBan",
    "BookingSeat",
    "Building",
    "CalendarDay",
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
    "PendingFollowUp",
    "PendingJob",
    "PointsAccount",
    "PointsLedger",
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
    "SlaPolicy",
    "Staff",
    "StaffToken",
    "SubscribeGrant",
    "TaskCategory",
    "TaskSubmission",
    "Venue",
    "VenueClosure",
    "VenueSeat",
]
