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
from gridweave.models.procurement import (
    Aggregation,
    Bid,
    BidAssignment,
    BidBudgetLine,
    BidConflict,
    BidIndicator,
    BidStatus,
    BidTargetArea,
    CallEvaluator,
    CallStatus,
    Grade,
    ProcurementCall,
    ProcurementCallCategory,
    Review,
    ReviewScore,
    ReviewStage,
)
from gridweave.models.projects import (
    Claim,
    ClaimStatus,
    ServiceProject,
    ServiceProjectKind,
    ServiceProjectStatus,
)
from gridweave.models.users import Role, RoleGrant, SignInThrottle, User

__all__ = [
    "Aggregation",
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
    "Claim",
    "ClaimStatus",
    "Bid",
    "BidAssignment",
    "BidBudgetLine",
    "BidConflict",
    "BidIndicator",
    "BidStatus",
    "BidTargetArea",
    "CallEvaluator",
    "CallStatus",
    "Grade",
    "ImportReport",
    "ImportReportLine",
    "LinkKind",
    "Organization",
    "OrganizationKind",
    "OrganizationLink",
    "OrganizationLinkProposal",
    "OrganizationServiceArea",
    "ProcurementCall",
    "ProcurementCallCategory",
    "Review",
    "ReviewScore",
    "ReviewStage",
    "PartyLevel",
    "Role",
    "RoleGrant",
    "ServiceActivity",
    "ServiceCategory",
    "ServiceProject",
    "ServiceProjectKind",
    "ServiceProjectStatus",
    "SignInThrottle",
    "User",
]
