"""Thin resolvers for co-building agreements and service activities."""

from __future__ import annotations

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.ids import decode_id, decode_optional
from gridweave.models import CommitmentUnit as PyCommitmentUnit
from gridweave.resolvers.common import mutate
from gridweave.resolvers.nodes import EXTRA_NODE_RESOLVERS
from gridweave.schema.agreements import (
    Agreement,
    AgreementPayload,
    RecordServiceActivityInput,
    ServiceActivityPayload,
    SignAgreementInput,
    TerminateAgreementInput,
)
from gridweave.schema.common import GqlInfo, Node
from gridweave.services import activities
from gridweave.services import agreements as svc

INPUT = "input"


async def sign_agreement(info: GqlInfo, input: SignAgreementInput) -> AgreementPayload:
    async def work(session: AsyncSession) -> AgreementPayload:
        agreement = await svc.sign_agreement(
            session,
            actor=info.context.actor,
            title=input.title,
            community_id=decode_id(input.community_id, "Area", field=[INPUT, "communityId"]),
            partner_id=decode_id(input.partner_id, "Organization", field=[INPUT, "partnerId"]),
            joint_meeting_id=decode_optional(
                input.joint_meeting_id, "JointMeeting", field=[INPUT, "jointMeetingId"]
            ),
            starts_on=input.starts_on,
            ends_on=input.ends_on,
            min_activities_per_quarter=input.min_activities_per_quarter,
            commitments=[
                svc.CommitmentSpec(
                    description=c.description,
                    quantity=c.quantity,
                    unit=PyCommitmentUnit(c.unit.value),
                    category_code=c.category_code,
                )
                for c in input.commitments or []
            ],
        )
        return AgreementPayload(agreement=Agreement.from_row(agreement))

    return await mutate(info, AgreementPayload, work)


async def terminate_agreement(info: GqlInfo, input: TerminateAgreementInput) -> AgreementPayload:
    async def work(session: AsyncSession) -> AgreementPayload:
        agreement = await svc.terminate_agreement(
            session,
            actor=info.context.actor,
            agreement_id=decode_id(input.agreement_id, "Agreement", field=[INPUT, "agreementId"]),
            reason=input.reason,
        )
        return AgreementPayload(agreement=Agreement.from_row(agreement))

    return await mutate(info, AgreementPayload, work)


async def record_service_activity(
    info: GqlInfo, input: RecordServiceActivityInput
) -> ServiceActivityPayload:
    async def work(session: AsyncSession) -> ServiceActivityPayload:
        await activities.record_activity(
            session,
            actor=info.context.actor,
            organization_id=decode_id(
                input.organization_id, "Organization", field=[INPUT, "organizationId"]
            ),
            area_id=decode_id(input.area_id, "Area", field=[INPUT, "areaId"]),
            category_code=input.category_code,
            on=input.occurred_on,
            hours=input.hours,
            beneficiaries=input.beneficiaries,
        )
        return ServiceActivityPayload(ok=True)

    return await mutate(info, ServiceActivityPayload, work)


async def _agreement_node(info: GqlInfo, pk: int) -> Node | None:
    row = await info.context.loaders.meetings.agreement.load(pk)
    return Agreement.from_row(row) if row else None


EXTRA_NODE_RESOLVERS["Agreement"] = _agreement_node


@strawberry.type
class Mutations:
    sign_agreement: AgreementPayload = strawberry.mutation(resolver=sign_agreement)
    terminate_agreement: AgreementPayload = strawberry.mutation(resolver=terminate_agreement)
    record_service_activity: ServiceActivityPayload = strawberry.mutation(
        resolver=record_service_activity
    )
