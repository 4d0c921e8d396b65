"""Coverage report types (the contract's CoverageReport, CoverageGap, CategoryCoverage, GapKind)."""

from __future__ import annotations

from datetime import date

import strawberry

from gridweave.errors import ValidationFailed
from gridweave.graph.coverage import Gap, GapKind, Gaps
from gridweave.schema.areas import Area
from gridweave.schema.common import GqlInfo, described
from gridweave.schema.organizations import Organization, ServiceCategory

strawberry.enum(
    GapKind,
    description=(
        "What is missing. Beyond the contract's kinds: NO_PARTY_GROUP (a building with 3+ party"
        " members and no party group), NO_PARTY_BRANCH (a courtyard with 3+ groups and no"
        " branch), NO_PARTY_COMMITTEE (a community with 3+ branches and no committee or general"
        " branch): the 333 rule; OFFICE_SPACE_SHORT (a community with less than 30 m² of office"
        " space per 100 households)."
    ),
)


@strawberry.type
class CoverageGap:
    kind: GapKind
    severity: float = strawberry.field(
        description="Households affected, weighted by vulnerable groups; larger is worse."
    )
    message: str
    area_id: strawberry.Private[int]
    category_id: strawberry.Private[int | None]
    organization_id: strawberry.Private[int | None]
    suggestion_ids: strawberry.Private[tuple[int, ...]]

    @classmethod
    def from_gap(cls, g: Gap) -> CoverageGap:
        return cls(
            kind=g.kind,
            severity=g.severity,
            message=g.message,
            area_id=g.area_id,
            category_id=g.category_id,
            organization_id=g.organization_id,
            suggestion_ids=g.suggestions,
        )

    @strawberry.field
    async def area(self, info: GqlInfo) -> Area:
        return Area.from_row(await info.context.loaders.area.load(self.area_id))

    @strawberry.field
    async def category(self, info: GqlInfo) -> ServiceCategory | None:
        if self.category_id is None:
            return None
        return ServiceCategory.from_row(await info.context.loaders.category.load(self.category_id))

    @strawberry.field
    async def organization(self, info: GqlInfo) -> Organization | None:
        if self.organization_id is None:
            return None
        row = await info.context.loaders.organization.load(self.organization_id)
        return Organization.from_row(row) if row else None

    @described("Organizations that could close the gap, best first.")
    async def suggestions(self, info: GqlInfo) -> list[Organization]:
        rows = await info.context.loaders.organization.load_many(list(self.suggestion_ids))
        return [Organization.from_row(r) for r in rows if r is not None]


@strawberry.type
class CategoryCoverage:
    areas_total: int
    areas_covered: int
    households_uncovered: int
    category_id: strawberry.Private[int]

    @strawberry.field
    async def category(self, info: GqlInfo) -> ServiceCategory:
        return ServiceCategory.from_row(await info.context.loaders.category.load(self.category_id))


@strawberry.type
class CoverageReport:
    as_of: date
    by_category: list[CategoryCoverage]
    area_id: strawberry.Private[int]
    all_gaps: strawberry.Private[Gaps]  # made into objects only for the page asked

    @strawberry.field
    async def area(self, info: GqlInfo) -> Area:
        return Area.from_row(await info.context.loaders.area.load(self.area_id))

    @described(
        "Gaps, most severe first: the first `first` (default 100, at most the page size) of the"
        " kinds asked for (default all)."
    )
    def gaps(
        self, info: GqlInfo, first: int | None = None, kinds: list[GapKind] | None = None
    ) -> list[CoverageGap]:
        limit = info.context.settings.max_page_size
        n = limit if first is None else first
        if not 0 <= n <= limit:
            raise ValidationFailed(f"'first' must be between 0 and {limit}.", field=["first"])
        if kinds is not None and len(kinds) > len(GapKind):
            raise ValidationFailed("List each gap kind at most once.", field=["kinds"])
        found = self.all_gaps if kinds is None else self.all_gaps.of_kinds(kinds)
        return [CoverageGap.from_gap(g) for g in found[:n]]
