"""Co-building agreements and their commitments; recording service activities."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import strawberry

from gridweave.ids import encode_id
from gridweave.models import AgreementStatus as PyAgreementStatus
from gridweave.models import CommitmentUnit as PyCommitmentUnit
from gridweave.schema.areas import Area
from gridweave.schema.common import GqlInfo, Node, UserError, described
from gridweave.schema.meetings import JointMeeting
from gridweave.schema.organizations import Organization, ServiceCategory
from gridweave.services.agreements import quarter_window, status_on
from gridweave.services.calendar import sane_date, today

AgreementStatus = PyAgreementStatus
CommitmentUnit = PyCommitmentUnit
for _enum in (AgreementStatus, CommitmentUnit):
    strawberry.enum(_enum)


@strawberry.type
class Commitment:
    description: str
    quantity: Decimal
    unit: CommitmentUnit
    category_id: strawberry.Private[int | None]

    @strawberry.field
    async def category(self, info: GqlInfo) -> ServiceCategory | None:
        if self.category_id is None:
            return None
        row = await info.context.loaders.category.load(self.category_id)
        return ServiceCategory.from_row(row) if row else None


@strawberry.type
class Agreement(Node):
    id: strawberry.ID
    title: str
    starts_on: date
    ends_on: date
    min_activities_per_quarter: int
    terminated_on: date | None = strawberry.field(
        description="The day it was terminated (it was in force until the day before)."
    )
    termination_reason: str | None
    pk: strawberry.Private[int]
    community_id: strawberry.Private[int]
    community_path: strawberry.Private[str]
    partner_id: strawberry.Private[int]
    joint_meeting_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: Any) -> Agreement:
        return cls(
            id=strawberry.ID(encode_id("Agreement", row.id)),
            title=row.title,
            starts_on=row.starts_on,
            ends_on=row.ends_on,
            min_activities_per_quarter=row.min_activities_per_quarter,
            terminated_on=row.terminated_on,
            termination_reason=row.termination_reason,
            pk=row.id,
            community_id=row.community_id,
            community_path=row.community_path,
            partner_id=row.partner_id,
            joint_meeting_id=row.joint_meeting_id,
        )

    @described("DRAFT before it starts, ACTIVE through its end, then EXPIRED; or TERMINATED.")
    def status(self) -> AgreementStatus:
        return status_on(
            starts_on=self.starts_on,
            ends_on=self.ends_on,
            terminated_on=self.terminated_on,
            on=today(),
        )

    @strawberry.field
    async def community(self, info: GqlInfo) -> Area:
        return Area.from_row(await info.context.loaders.area.load(self.community_id))

    @strawberry.field
    async def partner(self, info: GqlInfo) -> Organization:
        return Organization.from_row(await info.context.loaders.organization.load(self.partner_id))

    @strawberry.field
    async def joint_meeting(self, info: GqlInfo) -> JointMeeting | None:
        if self.joint_meeting_id is None:
            return None
        row = await info.context.loaders.meetings.meeting.load(self.joint_meeting_id)
        return JointMeeting.from_row(row) if row else None

    @strawberry.field
    async def commitments(self, info: GqlInfo) -> list[Commitment]:
        rows = await info.context.loaders.meetings.commitments.load(self.pk)
        return [
            Commitment(
                description=r.description,
                quantity=r.quantity,
                unit=CommitmentUnit(r.unit),
                category_id=r.category_id,
            )
            for r in rows
        ]

    async def _count(self, info: GqlInfo, on: date | None) -> int:
        day = today() if on is None else sane_date(on, field=["on"])
        window = quarter_window(
            starts_on=self.starts_on, ends_on=self.ends_on, terminated_on=self.terminated_on, on=day
        )
        if window is None:
            return 0
        key = (self.community_path, self.partner_id, window[0], window[1])
        return int(await info.context.loaders.meetings.activity_count.load(key))

    @described(
        "Compliance: the partner's service activities in the community (and below it) in the"
        " quarter containing `on` (default today), on days the agreement was in force."
    )
    async def activities_this_quarter(self, info: GqlInfo, on: date | None = None) -> int:
        return await self._count(info, on)

    @described(
        "Compliance: whether activitiesThisQuarter has reached minActivitiesPerQuarter. Always"
        " true for a quarter in which the agreement was never in force."
    )
    async def meets_minimum_this_quarter(self, info: GqlInfo, on: date | None = None) -> bool:
        day = today() if on is None else sane_date(on, field=["on"])
        window = quarter_window(
            starts_on=self.starts_on, ends_on=self.ends_on, terminated_on=self.terminated_on, on=day
        )
        if window is None:
            return True
        return await self._count(info, day) >= self.min_activities_per_quarter


@strawberry.input
class CommitmentInput:
    description: str
    quantity: Decimal
    unit: CommitmentUnit
    category_code: str | None = None


@strawberry.input
class SignAgreementInput:
    title: str
    community_id: strawberry.ID
    partner_id: strawberry.ID
    starts_on: date
    ends_on: date
    joint_meeting_id: strawberry.ID | None = None
    min_activities_per_quarter: int | None = None
    commitments: list[CommitmentInput] | None = None


@strawberry.input
class TerminateAgreementInput:
    agreement_id: strawberry.ID
    reason: str


@strawberry.type
class AgreementPayload:
    agreement: Agreement | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class RecordServiceActivityInput:
    organization_id: strawberry.ID
    area_id: strawberry.ID
    category_code: str
    occurred_on: date
    hours: Decimal
    beneficiaries: int


@strawberry.type
class ServiceActivityPayload:
    ok: bool = False
    user_errors: list[UserError] = strawberry.field(default_factory=list)
