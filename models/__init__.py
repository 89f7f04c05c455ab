"""SQLAlchemy 2.0 typed models; nothing here imports Flask, Redis or WeChat.

Each area keeps its tables in its own module; importing this package registers them all on `Base.metadata`.
Add a module's import here when you add the module.
"""

from models.appeal import Appeal, AppealAttachment, AppealEvent, AppealSupporter
from models.base import Base
from models.booking import Booking, BookingBan, BookingSeat, NoShowStrike, Venue, VenueClosure, VenueSeat
from models.messages import InboundMessage, OutboundMessage
from models.notify import SubscribeGrant
from models.miniapp import IdempotencyRecord, MiniappSession, Notice, NoticeRead
from models.org import Building, Community, Department, Estate, Grid, PropertyCompany, QRScene, Staff
from models.events import Event, EventSignup
from models.outbox import PendingJob
from models.resident import Resident
from models.reports import RankingChange, RankingEntry, RankingSnapshot, Report
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
from models.routing import ConsultAnswer, DuplicatePolicy, LabelledExample, PendingFollowUp, RoutingRule
from models.workflow import CalendarDay, Reminder, SlaPolicy, StaffToken

__all__ = [
    "Appeal",
    "AppealAttachment",
    "AppealEvent",
    "AppealSupporter",
    "Base",
    "Building",
    "CalendarDay",
    "Community",
    "Department",
    "Estate",
    "Grid",
    "InboundMessage",
    "OutboundMessage",
    "PendingJob",
    "PropertyCompany",
    "QRScene",
    "Reminder",
    "Resident",
    "SlaPolicy",
    "Staff",
    "SubscribeGrant",
    "StaffToken",
    "RankingChange",
    "RankingEntry",
    "RankingSnapshot",
    "Report",
    "ConsultAnswer",
    "DuplicatePolicy",
    "LabelledExample",
    "PendingFollowUp",
    "RoutingRule",
    "Event",
    "EventSignup",
    "PartnerMember",
    "PartnerUnit",
    "PointsAccount",
    "PointsLedger",
    "Redemption",
    "Reward",
    "TaskCategory",
    "TaskSubmission",
    "Booking",
    "BookingBan",
    "BookingSeat",
    "NoShowStrike",
    "Venue",
    "VenueClosure",
    "VenueSeat",
    "IdempotencyRecord",
    "MiniappSession",
    "Notice",
    "NoticeRead",
]
