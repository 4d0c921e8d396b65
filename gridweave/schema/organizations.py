"""Organization, its ties, service areas and connection; the service category."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from gridweave.ids import encode_id
from gridweave.schema.areas import Area
from gridweave.schema.common import (
    GqlInfo,
    LinkKind,
    Node,
    OrganizationKind,
    UserError,
    described,
)
from gridweave.schema.connection import Connection

if TYPE_CHECKING:
    from gridweave.schema.agreements import Agreement


@strawberry.type
class ServiceCategory(Node):
    id: strawberry.ID
    code: str = strawberry.field(description="Stable machine code, e.g. elderly_care.")
    name: str
    pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any) -> ServiceCategory:
        return cls(
            id=strawberry.ID(encode_id("ServiceCategory", row.id)),
            code=row.code,
            name=row.name,
            pk=row.id,
        )


@strawberry.type
class ServiceArea:
    area_id: strawberry.Private[int]
    category_ids: strawberry.Private[list[int]]

    @strawberry.field
    async def area(self, info: GqlInfo) -> Area:
        return Area.from_row(await info.context.loaders.area.load(self.area_id))

    @strawberry.field
    async def categories(self, info: GqlInfo) -> list[ServiceCategory]:
        rows = await info.context.loaders.category.load_many(self.category_ids)
        return [ServiceCategory.from_row(r) for r in rows]


@strawberry.type
class OrganizationLink:
    kind: LinkKind
    since: date | None
    source_id: strawberry.Private[int]
    target_id: strawberry.Private[int]

    @strawberry.field
    async def source(self, info: GqlInfo) -> Organization:
        return Organization.from_row(await info.context.loaders.organization.load(self.source_id))

    @strawberry.field
    async def target(self, info: GqlInfo) -> Organization:
        return Organization.from_row(await info.context.loaders.organization.load(self.target_id))

    @classmethod
    def from_row(cls, row: Any) -> OrganizationLink:
        return cls(
            kind=LinkKind(row.kind),
            since=row.since,
            source_id=row.source_id,
            target_id=row.target_id,
        )


@strawberry.type
class Organization(Node):
    id: strawberry.ID
    name: str
    kind: OrganizationKind
    credit_code: str | None = strawberry.field(
        description="Unified social credit code (18 characters, checksummed), when registered."
    )
    pk: strawberry.Private[int]
    area_id: strawberry.Private[int]
    area_path: strawberry.Private[str]
    parent_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: Any) -> Organization:
        return cls(
            id=strawberry.ID(encode_id("Organization", row.id)),
            name=row.name,
            kind=OrganizationKind(row.kind),
            credit_code=row.credit_code,
            pk=row.id,
            area_id=row.area_id,
            area_path=row.area_path,
            parent_id=row.parent_id,
        )

    @described("Where the organization is based.")
    async def area(self, info: GqlInfo) -> Area:
        return Area.from_row(await info.context.loaders.area.load(self.area_id))

    @described("The organization it belongs to (a branch's committee, a team's parent body).")
    async def parent(self, info: GqlInfo) -> Organization | None:
        if self.parent_id is None:
            return None
        row = await info.context.loaders.organization.load(self.parent_id)
        return Organization.from_row(row) if row else None

    @strawberry.field
    async def children(self, info: GqlInfo) -> list[Organization]:
        rows = await info.context.loaders.organization_children.load(self.pk)
        return [Organization.from_row(r) for r in rows]

    @strawberry.field
    async def service_areas(self, info: GqlInfo) -> list[ServiceArea]:
        rows = await info.context.loaders.service_areas.load(self.pk)
        by_area: dict[int, list[int]] = {}
        for r in rows:
            by_area.setdefault(r.area_id, []).append(r.category_id)
        return [ServiceArea(area_id=a, category_ids=c) for a, c in by_area.items()]

    @strawberry.field
    async def links(self, info: GqlInfo) -> list[OrganizationLink]:
        rows = await info.context.loaders.organization_links.load(self.pk)
        return [OrganizationLink.from_row(r) for r in rows]

    @described("Co-building agreements it is the partner of, oldest first.")
    async def agreements(
        self, info: GqlInfo
    ) -> list[Annotated[Agreement, strawberry.lazy("gridweave.schema.agreements")]]:
        from gridweave.schema.agreements import Agreement

        rows = await info.context.loaders.meetings.partner_agreements.load(self.pk)
        return [Agreement.from_row(r) for r in rows]


OrganizationConnection = Connection[Organization]


@strawberry.input
class ServiceAreaInput:
    area_id: strawberry.ID
    category_codes: list[str]


@strawberry.input
class CreateOrganizationInput:
    name: str
    kind: OrganizationKind
    area_id: strawberry.ID
    parent_id: strawberry.ID | None = None
    credit_code: str | None = None
    service_areas: list[ServiceAreaInput] | None = None


@strawberry.input
class UpdateOrganizationInput:
    id: strawberry.ID
    name: str | None = None
    parent_id: strawberry.ID | None = None
    credit_code: str | None = None
    service_areas: list[ServiceAreaInput] | None = strawberry.field(
        default=None, description="Replaces the service areas when given."
    )


@strawberry.input
class LinkOrganizationsInput:
    kind: LinkKind
    source_id: strawberry.ID
    target_id: strawberry.ID
    since: date | None = None


@strawberry.type
class OrganizationPayload:
    organization: Organization | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class UnlinkOrganizationsInput:
    kind: LinkKind
    source_id: strawberry.ID
    target_id: strawberry.ID


@strawberry.type
class LinkPayload:
    link: OrganizationLink | None = strawberry.field(
        default=None,
        description="The link recorded (by linkOrganizations) or removed (by unlinkOrganizations).",
    )
    proposal: OrganizationLink | None = strawberry.field(
        default=None,
        description=(
            "A link only one end has consented to: not a link yet, shown nowhere else. "
            "linkOrganizations answers with it when the caller speaks for the source only; "
            "someone who speaks for the target confirms it with the same linkOrganizations call. "
            "unlinkOrganizations answers with it when it withdrew one."
        ),
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)
