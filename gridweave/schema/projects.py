"""Service projects, claims, their inputs and payloads, and the project events of subscriptions."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry

from gridweave import models
from gridweave.ids import encode_id
from gridweave.schema.areas import Area
from gridweave.schema.common import GqlInfo, Node, UserError, described
from gridweave.schema.connection import Connection
from gridweave.schema.organizations import Organization, ServiceCategory

ServiceProjectKind = models.ServiceProjectKind
ServiceProjectStatus = models.ServiceProjectStatus
ClaimStatus = models.ClaimStatus
for _enum in (ServiceProjectKind, ServiceProjectStatus, ClaimStatus):
    strawberry.enum(_enum)


@strawberry.enum
class ServiceProjectEventKind(Enum):
    POSTED = "POSTED"
    CLAIMED = "CLAIMED"
    WITHDRAWN = "WITHDRAWN"
    COMPLETED = "COMPLETED"
    VERIFIED = "VERIFIED"
    CANCELLED = "CANCELLED"


@strawberry.type
class CompletionReport:
    summary: str
    hours: Decimal
    beneficiaries: int
    completed_on: date


@strawberry.type
class Claim(Node):
    id: strawberry.ID
    slots: int
    status: ClaimStatus
    claimed_at: datetime
    report: CompletionReport | None
    rating: int | None = strawberry.field(
        description="1-5, given by the community on verification."
    )
    pk: strawberry.Private[int]
    project_id: strawberry.Private[int]
    claimant_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any) -> Claim:
        report = (
            CompletionReport(
                summary=row.report_summary,
                hours=row.report_hours,
                beneficiaries=row.report_beneficiaries,
                completed_on=row.completed_on,
            )
            if row.report_summary is not None
            else None
        )
        return cls(
            id=strawberry.ID(encode_id("Claim", row.id)),
            slots=row.slots,
            status=ClaimStatus(row.status),
            claimed_at=row.claimed_at,
            report=report,
            rating=row.rating,
            pk=row.id,
            project_id=row.project_id,
            claimant_id=row.claimant_id,
        )

    @strawberry.field
    async def project(self, info: GqlInfo) -> ServiceProject:
        return ServiceProject.from_row(await info.context.loaders.project.load(self.project_id))

    @strawberry.field
    async def claimant(self, info: GqlInfo) -> Organization:
        return Organization.from_row(await info.context.loaders.organization.load(self.claimant_id))


@strawberry.type
class ServiceProject(Node):
    id: strawberry.ID
    title: str
    description: str
    kind: ServiceProjectKind
    slots: int
    claimed_slots: int
    deadline: date | None = strawberry.field(
        description="The last day places may be claimed (China Standard Time)."
    )
    status: ServiceProjectStatus = strawberry.field(
        description="Derived when read from the claims, the cancellation and the deadline, so a "
        "filter by status and the status shown always agree."
    )
    pk: strawberry.Private[int]
    category_id: strawberry.Private[int]
    area_id: strawberry.Private[int]
    area_path: strawberry.Private[str]
    posted_by_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any) -> ServiceProject:
        return cls(
            id=strawberry.ID(encode_id("ServiceProject", row.id)),
            title=row.title,
            description=row.description,
            kind=ServiceProjectKind(row.kind),
            slots=row.slots,
            claimed_slots=row.claimed_slots,
            deadline=row.deadline,
            status=ServiceProjectStatus(row.status),
            pk=row.id,
            category_id=row.category_id,
            area_id=row.area_id,
            area_path=row.area_path,
            posted_by_id=row.posted_by_id,
        )

    @strawberry.field
    async def category(self, info: GqlInfo) -> ServiceCategory:
        return ServiceCategory.from_row(await info.context.loaders.category.load(self.category_id))

    @strawberry.field
    async def area(self, info: GqlInfo) -> Area:
        return Area.from_row(await info.context.loaders.area.load(self.area_id))

    @strawberry.field
    async def posted_by(self, info: GqlInfo) -> Organization:
        row = await info.context.loaders.organization.load(self.posted_by_id)
        return Organization.from_row(row)

    @described("Every claim on the project, withdrawn ones too, oldest first.")
    async def claims(self, info: GqlInfo) -> list[Claim]:
        rows = await info.context.loaders.project_claims.load(self.pk)
        return [Claim.from_row(r) for r in rows]


ServiceProjectConnection = Connection[ServiceProject]


@strawberry.type
class ServiceProjectEvent:
    kind: ServiceProjectEventKind
    project: ServiceProject
    claim: Claim | None
    at: datetime


@strawberry.input
class PostServiceProjectInput:
    title: str
    description: str
    kind: ServiceProjectKind
    category_code: str
    area_id: strawberry.ID
    posted_by_id: strawberry.ID
    slots: int | None = None
    deadline: date | None = None


@strawberry.input
class CancelServiceProjectInput:
    project_id: strawberry.ID
    reason: str


@strawberry.input
class ClaimServiceProjectInput:
    project_id: strawberry.ID
    claimant_id: strawberry.ID
    slots: int | None = None


@strawberry.input
class WithdrawClaimInput:
    claim_id: strawberry.ID


@strawberry.input
class ReportCompletionInput:
    claim_id: strawberry.ID
    summary: str
    hours: Decimal
    beneficiaries: int
    completed_on: date


@strawberry.input
class VerifyClaimInput:
    claim_id: strawberry.ID
    rating: int


@strawberry.type
class ServiceProjectPayload:
    project: ServiceProject | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ClaimPayload:
    """The claim and its project as they stand once the mutation committed: each is read only
    when asked for (through the request's DataLoaders), outside the mutation's transaction; a
    new claim is shown as its INSERT returned it (``written``), not read again."""

    user_errors: list[UserError] = strawberry.field(default_factory=list)
    claim_pk: strawberry.Private[int | None] = None
    written: strawberry.Private[Any] = None

    async def _claim_row(self, info: GqlInfo) -> Any:
        if self.claim_pk is None or self.written is not None:
            return self.written
        return await info.context.loaders.claim.load(self.claim_pk)

    @strawberry.field
    async def claim(self, info: GqlInfo) -> Claim | None:
        row = await self._claim_row(info)
        return Claim.from_row(row) if row is not None else None

    @strawberry.field
    async def project(self, info: GqlInfo) -> ServiceProject | None:
        claim = await self._claim_row(info)
        if claim is None:
            return None
        return ServiceProject.from_row(await info.context.loaders.project.load(claim.project_id))
