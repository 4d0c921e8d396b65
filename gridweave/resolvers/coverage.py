from __future__ import annotations

from datetime import date

import strawberry

from gridweave.ids import decode_id
from gridweave.schema.common import GqlInfo
from gridweave.schema.coverage import CategoryCoverage, CoverageReport
from gridweave.schema.permissions import SignedIn
from gridweave.services import coverage as svc


async def coverage(
    info: GqlInfo,
    area_id: strawberry.ID,
    category_codes: list[str] | None = None,
    max_hops: int | None = None,
    as_of: date | None = None,
) -> CoverageReport:
    ctx = info.context
    async with ctx.sessionmaker() as session:
        report = await svc.coverage_report(
            session,
            actor=ctx.actor,
            settings=ctx.settings,
            area_id=decode_id(area_id, "Area", field=["areaId"]),
            category_codes=category_codes,
            max_hops=max_hops,
            as_of=as_of,
            cache=ctx.coverage_cache,
        )
    return to_type(report)


def to_type(report: svc.CoverageReport) -> CoverageReport:
    return CoverageReport(
        as_of=report.as_of,
        area_id=report.area.id,
        by_category=[
            CategoryCoverage(
                category_id=c.category_id,
                areas_total=c.areas_total,
                areas_covered=c.areas_covered,
                households_uncovered=c.households_uncovered,
            )
            for c in report.result.by_category
        ],
        all_gaps=report.result.gaps,
    )


@strawberry.type
class Queries:
    coverage: CoverageReport = strawberry.field(
        resolver=coverage,
        permission_classes=[SignedIn],
        description=(
            "Coverage gaps in an area's subtree: every unmet rule, most severe first, with who"
            " could close it. Coordinators (their subtree), auditors (their area) and admins."
        ),
    )
