"""SQLAlchemy ORM models, one module per aggregate. Importing this package registers them all."""

from gridweave.models.activities import ActivitySource, ServiceActivity
from gridweave.models.agreements import Agreement, AgreementStatus, Commitment, CommitmentUnit
from gridweave.models.areas import Area, AreaLevel, AreaNeighbor
from gridweave.models.audit import AuditEntry
from gridweave.models.base import Base
from gridweave.models.categories import ServiceCategory
from gridweave.models.imports import ImportReport, ImportReportLine
from gridweave.models.meetings import (
    ConvenerRotation,
    JointMeeting,
    JointMeetingMember,
    MeetingSession,
    MeetingSessionAttendee,
    RotationPeriod,
)
from gridweave.models.organizations import (
    LinkKind,
    Organization,
    OrganizationKind,
    OrganizationLink,
    OrganizationLinkProposal,
    OrganizationServiceArea,
    PartyLevel,
)
from gridweave.models.users import Role, RoleGrant, SignInThrottle, User

__all__ = [
    "ActivitySource",
    "Agreement",
    "AgreementStatus",
    "Commitment",
    "CommitmentUnit",
    "ConvenerRotation",
    "JointMeeting",
    "JointMeetingMember",
    "MeetingSession",
    "MeetingSessionAttendee",
    "RotationPeriod",
    "Area",
    "AreaLevel",
    "AreaNeighbor",
    "AuditEntry",
    "Base",
    "ImportReport",
    "ImportReportLine",
    "LinkKind",
    "Organization",
    "OrganizationKind",
    "OrganizationLink",
    "OrganizationLinkProposal",
    "OrganizationServiceArea",
    "PartyLevel",
    "Role",
    "RoleGrant",
    "ServiceActivity",
    "ServiceCategory",
    "SignInThrottle",
    "User",
]
