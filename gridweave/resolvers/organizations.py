"""Thin resolvers for organizations and their links."""

from __future__ import annotations

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.ids import decode_cursor, decode_id, decode_optional
from gridweave.models import LinkKind as PyLinkKind
from gridweave.models import OrganizationKind as PyKind
from gridweave.models import OrganizationLink as PyLink
from gridweave.models import OrganizationLinkProposal as PyLinkProposal
from gridweave.resolvers.common import mutate
from gridweave.schema.common import GqlInfo, OrganizationKind, page_size
from gridweave.schema.organizations import (
    CreateOrganizationInput,
    LinkOrganizationsInput,
    LinkPayload,
    Organization,
    OrganizationConnection,
    OrganizationLink,
    OrganizationPayload,
    ServiceAreaInput,
    ServiceCategory,
    UnlinkOrganizationsInput,
    UpdateOrganizationInput,
)
from gridweave.schema.permissions import SignedIn
from gridweave.services import listing
from gridweave.services import organizations as svc
from gridweave.services.areas import get_area

INPUT = "input"


def _service_areas(specs: list[ServiceAreaInput] | None) -> list[svc.ServiceAreaSpec] | None:
    if specs is None:
        return None
    return [
        svc.ServiceAreaSpec(
            area_id=decode_id(s.area_id, "Area", field=[INPUT, "serviceAreas", str(i), "areaId"]),
            category_codes=s.category_codes,
        )
        for i, s in enumerate(specs)
    ]


async def organizations(
    info: GqlInfo,
    kind: OrganizationKind | None = None,
    area_id: strawberry.ID | None = None,
    search: str | None = None,
    first: int | None = None,
    after: str | None = None,
) -> OrganizationConnection:
    limit = page_size(info, first)
    after_id = decode_cursor(after)
    sm = info.context.sessionmaker
    async with sm() as session:
        area_pk = decode_optional(area_id, "Area", field=["areaId"])
        if area_pk is not None:
            await get_area(session, area_pk, field=["areaId"])  # NOT_FOUND when missing
        flt = listing.OrganizationFilter(
            kind=kind.value if kind else None, area_id=area_pk, search=search
        )
        rows = await listing.list_organizations(session, flt, after_id=after_id, limit=limit + 1)

    async def total() -> int:
        async with sm() as s:
            return await listing.count_organizations(s, flt)

    return OrganizationConnection.build(
        rows, Organization.from_row, limit=limit, after_id=after_id, total=total
    )


async def service_categories(info: GqlInfo) -> list[ServiceCategory]:
    async with info.context.sessionmaker() as session:
        rows = await listing.list_categories(session)
    return [ServiceCategory.from_row(r) for r in rows]


async def create_organization(info: GqlInfo, input: CreateOrganizationInput) -> OrganizationPayload:
    async def work(session: AsyncSession) -> OrganizationPayload:
        org = await svc.create_organization(
            session,
            actor=info.context.actor,
            name=input.name,
            kind=PyKind(input.kind.value),
            area_id=decode_id(input.area_id, "Area", field=[INPUT, "areaId"]),
            parent_id=decode_optional(input.parent_id, "Organization", field=[INPUT, "parentId"]),
            credit_code=input.credit_code,
            service_areas=_service_areas(input.service_areas),
        )
        return OrganizationPayload(organization=Organization.from_row(org))

    return await mutate(info, OrganizationPayload, work)


async def update_organization(info: GqlInfo, input: UpdateOrganizationInput) -> OrganizationPayload:
    async def work(session: AsyncSession) -> OrganizationPayload:
        org = await svc.update_organization(
            session,
            actor=info.context.actor,
            organization_id=decode_id(input.id, "Organization", field=[INPUT, "id"]),
            name=input.name,
            parent_id=decode_optional(input.parent_id, "Organization", field=[INPUT, "parentId"]),
            credit_code=input.credit_code,
            service_areas=_service_areas(input.service_areas),
        )
        return OrganizationPayload(organization=Organization.from_row(org))

    return await mutate(info, OrganizationPayload, work)


def _link_payload(row: PyLink | PyLinkProposal) -> LinkPayload:
    if isinstance(row, PyLinkProposal):
        return LinkPayload(proposal=OrganizationLink.from_row(row))
    return LinkPayload(link=OrganizationLink.from_row(row))


async def link_organizations(info: GqlInfo, input: LinkOrganizationsInput) -> LinkPayload:
    async def work(session: AsyncSession) -> LinkPayload:
        row = await svc.link_organizations(
            session,
            actor=info.context.actor,
            kind=PyLinkKind(input.kind.value),
            source_id=decode_id(input.source_id, "Organization", field=[INPUT, "sourceId"]),
            target_id=decode_id(input.target_id, "Organization", field=[INPUT, "targetId"]),
            since=input.since,
        )
        return _link_payload(row)

    return await mutate(info, LinkPayload, work)


async def unlink_organizations(info: GqlInfo, input: UnlinkOrganizationsInput) -> LinkPayload:
    async def work(session: AsyncSession) -> LinkPayload:
        row = await svc.unlink_organizations(
            session,
            actor=info.context.actor,
            kind=PyLinkKind(input.kind.value),
            source_id=decode_id(input.source_id, "Organization", field=[INPUT, "sourceId"]),
            target_id=decode_id(input.target_id, "Organization", field=[INPUT, "targetId"]),
        )
        return _link_payload(row)

    return await mutate(info, LinkPayload, work)


@strawberry.type
class CategoryQueries:
    service_categories: list[ServiceCategory] = strawberry.field(
        resolver=service_categories, permission_classes=[SignedIn]
    )


@strawberry.type
class Queries:
    organizations: OrganizationConnection = strawberry.field(
        resolver=organizations, permission_classes=[SignedIn]
    )


@strawberry.type
class Mutations:
    create_organization: OrganizationPayload = strawberry.mutation(resolver=create_organization)
    update_organization: OrganizationPayload = strawberry.mutation(resolver=update_organization)
    link_organizations: LinkPayload = strawberry.mutation(
        resolver=link_organizations,
        description=(
            "Tie two organizations. Recorded at once when the caller speaks for both ends (a "
            "member or a coordinator of each); otherwise the source's side proposes it and the "
            "target's side confirms it with the same call (see LinkPayload.proposal)."
        ),
    )
    unlink_organizations: LinkPayload = strawberry.mutation(
        resolver=unlink_organizations,
        description=(
            "Remove a link, or withdraw or decline a proposed one: whoever speaks for either end "
            "may, since a link lasts only while both ends consent."
        ),
    )
