"""Area, its connection and counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from gridweave.ids import decode_cursor, encode_id
from gridweave.models.areas import VULNERABLE_COLUMNS
from gridweave.schema.common import (
    AreaLevel,
    GqlInfo,
    Node,
    OrganizationKind,
    UserError,
    VulnerableGroup,
    described,
    page_size,
)
from gridweave.schema.connection import Connection

if TYPE_CHECKING:
    from gridweave.schema.organizations import Organization


@strawberry.type
class VulnerableGroupCount:
    group: VulnerableGroup
    count: int


@strawberry.type
class Area(Node):
    id: strawberry.ID
    name: str
    code: str | None = strawberry.field(description="Administrative code, unique when present.")
    level: AreaLevel
    households: int
    population: int
    vulnerable_groups: list[VulnerableGroupCount]
    pk: strawberry.Private[int]
    path: strawberry.Private[str]
    parent_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: Any) -> Area:
        return cls(
            id=strawberry.ID(encode_id("Area", row.id)),
            name=row.name,
            code=row.code,
            level=AreaLevel(row.level),
            households=row.households,
            population=row.population,
            vulnerable_groups=[
                VulnerableGroupCount(group=VulnerableGroup(g), count=getattr(row, col))
                for g, col in VULNERABLE_COLUMNS.items()
            ],
            pk=row.id,
            path=row.path,
            parent_id=row.parent_id,
        )

    @strawberry.field
    async def parent(self, info: GqlInfo) -> Area | None:
        if self.parent_id is None:
            return None
        row = await info.context.loaders.area.load(self.parent_id)
        return Area.from_row(row) if row else None

    @strawberry.field
    async def children(
        self, info: GqlInfo, first: int | None = None, after: str | None = None
    ) -> AreaConnection:
        limit = page_size(info, first)
        after_id = decode_cursor(after)
        rows = await info.context.loaders.area_children.load((self.pk, after_id, limit + 1))
        count = info.context.loaders.area_child_count
        return AreaConnection.build(
            rows, Area.from_row, limit=limit, after_id=after_id, total=lambda: count.load(self.pk)
        )

    @described("Adjacent areas of the same level.")
    async def neighbors(self, info: GqlInfo) -> list[Area]:
        rows = await info.context.loaders.area_neighbors.load(self.pk)
        return [Area.from_row(r) for r in rows]

    @described("Organizations located in this area or below it.")
    async def organizations(
        self,
        info: GqlInfo,
        kind: OrganizationKind | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Annotated[Organization, strawberry.lazy("gridweave.schema.organizations")]]:
        from gridweave.schema.organizations import Organization, OrganizationConnection

        limit = page_size(info, first)
        after_id = decode_cursor(after)
        kind_value = kind.value if kind else None
        loaders = info.context.loaders
        rows = await loaders.area_organizations.load((self.path, kind_value, after_id, limit + 1))
        return OrganizationConnection.build(
            rows,
            Organization.from_row,
            limit=limit,
            after_id=after_id,
            total=lambda: loaders.area_organization_count.load((self.path, kind_value)),
        )

    @described(
        "Compliance: co-resident units located in this area or below it that belong to no joint"
        " meeting today (unengaged units, a gap to close)."
    )
    async def unengaged_units(
        self, info: GqlInfo, first: int | None = None, after: str | None = None
    ) -> Connection[Annotated[Organization, strawberry.lazy("gridweave.schema.organizations")]]:
        from gridweave.resolvers.compliance import unengaged_units

        return await unengaged_units(info, self.path, first=first, after=after)


AreaConnection = Connection[Area]


@strawberry.input
class VulnerableGroupCountInput:
    group: VulnerableGroup
    count: int


@strawberry.input
class CreateAreaInput:
    name: str
    level: AreaLevel
    code: str | None = None
    parent_id: strawberry.ID | None = None
    households: int | None = None
    population: int | None = None
    vulnerable_groups: list[VulnerableGroupCountInput] | None = None


@strawberry.input
class UpdateAreaInput:
    id: strawberry.ID
    name: str | None = None
    code: str | None = None
    households: int | None = None
    population: int | None = None
    vulnerable_groups: list[VulnerableGroupCountInput] | None = None


@strawberry.input
class DeleteInput:
    id: strawberry.ID


@strawberry.input
class SetNeighborsInput:
    area_id: strawberry.ID
    neighbor_ids: list[strawberry.ID]


@strawberry.type
class AreaPayload:
    area: Area | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeletePayload:
    deleted_id: strawberry.ID | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
