"""SQLAlchemy 2.0 typed models; nothing here imports Flask, Redis or WeChat.

Each area keeps its tables in its own module; importing this package registers them all on `Base.metadata`.
Add a module's import here when you add the module.
"""

from models.appeal import Appeal, AppealAttachment, AppealEvent, AppealSupporter
from models.base import Base
from models.messages import InboundMessage, OutboundMessage
from models.org import Building, Community, Department, Estate, Grid, PropertyCompany, QRScene, Staff
from models.outbox import PendingJob
from models.resident import Resident
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
    "StaffToken",
]
